"""What a file name's extension tells Windows to do, and how to say it to a person.

One table: extension → class (program, script, shortcut, installer, disk image, help file,
registry, document, picture, archive ...) with English and Chinese wording. The name
analyzer uses it to judge names (``设计图.jpg.exe``), other analyzers to describe what they
found. The extension is only what the *name* claims; :mod:`filewall.identify` says what the
content is, and :data:`KIND_CLASSES` maps those content kinds onto the same classes so
the two can be compared.

Sources for the risky list: Windows' own "unsafe file types" (``AssocIsDangerous`` /
Attachment Manager high-risk list), Outlook's blocked attachments, Elastic and
SigmaHQ masquerading rules, and the lures in ``/work/shared/research/threats-cs-lures.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileClass:
    """A family of file types as a customer-service agent would understand it."""

    id: str
    en: str
    zh: str
    #: True when double-clicking a file of this class on Windows runs code.
    runs_code: bool = False
    #: True for containers Windows opens as a drive (programs can hide inside).
    mounts: bool = False


PROGRAM = FileClass("program", "a program", "程序", runs_code=True)
SCRIPT = FileClass("script", "a script", "脚本", runs_code=True)
SHORTCUT = FileClass("shortcut", "a shortcut", "快捷方式", runs_code=True)
INSTALLER = FileClass("installer", "an installer", "安装包", runs_code=True)
HELP_FILE = FileClass("help_file", "a Windows help file", "Windows 帮助文件", runs_code=True)
REGISTRY = FileClass("registry", "a registry file", "注册表文件", runs_code=True)
OFFICE_ADDIN = FileClass("office_addin", "an Office add-in", "Office 加载项", runs_code=True)
SYSTEM_LINK = FileClass(
    "system_link", "a Windows settings or search link", "Windows 设置/搜索链接", runs_code=True
)
DISK_IMAGE = FileClass("disk_image", "a disk image", "磁盘映像", mounts=True)
DOCUMENT = FileClass("document", "a document", "文档")
PICTURE = FileClass("picture", "a picture", "图片")
ARCHIVE = FileClass("archive", "an archive", "压缩包")
TEXT = FileClass("text", "a text file", "文本文件")
WEB = FileClass("web", "a web page", "网页")
EMAIL = FileClass("email", "an e-mail", "邮件")
DRAWING = FileClass("drawing", "a CAD drawing", "CAD 图纸")
AUDIO = FileClass("audio", "a sound file", "音频")
VIDEO = FileClass("video", "a video", "视频")
FONT = FileClass("font", "a font", "字体")


@dataclass(frozen=True)
class Extension:
    """One extension: its class, a short description and why it matters."""

    ext: str
    cls: FileClass
    en: str
    zh: str
    #: Content kinds (from :mod:`filewall.identify`) a file with this name normally has;
    #: empty when any content is plausible (we then never call it a mismatch).
    kinds: frozenset[str] = frozenset()

    @property
    def runs_code(self) -> bool:
        return self.cls.runs_code


def _table(*rows: tuple) -> dict[str, Extension]:
    table: dict[str, Extension] = {}
    for cls, names, en, zh, *kinds in rows:
        for ext in names.split():
            assert ext not in table, ext
            table[ext] = Extension(ext, cls, en, zh, frozenset(kinds[0].split()) if kinds else frozenset())
    return table


_TEXTISH = "text xml html svg email url reg uuencode hta empty"

#: extension (lower case, no dot) → what it is. ``kinds`` lists the content kinds that are
#: normal for the name (several for formats Office or browsers accept interchangeably).
EXTENSIONS: dict[str, Extension] = _table(
    # --- programs: Windows runs them on double-click ------------------------------------------
    (PROGRAM, "exe", "Windows program", "Windows 程序", "pe dos-mz"),
    (PROGRAM, "scr", "screen saver (a Windows program)", "屏幕保护程序（也是 Windows 程序）", "pe"),
    (PROGRAM, "pif", "DOS program shortcut that runs any program", "DOS 程序快捷方式，可运行任何程序"),
    (PROGRAM, "com", "DOS/Windows program", "DOS/Windows 程序"),
    (PROGRAM, "cpl", "Control Panel item (a Windows program)", "控制面板项（也是 Windows 程序）", "pe"),
    (
        PROGRAM,
        "dll ocx",
        "Windows program library, run by a helper program",
        "Windows 程序库，可被其他程序加载运行",
        "pe",
    ),
    (PROGRAM, "sys drv", "Windows driver", "Windows 驱动程序", "pe"),
    (PROGRAM, "efi", "start-up program", "启动程序", "pe"),
    (PROGRAM, "jar", "Java program", "Java 程序", "jar zip"),
    (PROGRAM, "class", "Java program code", "Java 程序代码", "java-class"),
    (PROGRAM, "apk xapk", "Android app", "安卓应用", "apk zip"),
    (PROGRAM, "dex", "Android program code", "安卓程序代码", "dex"),
    (PROGRAM, "elf", "Linux program", "Linux 程序", "elf"),
    (PROGRAM, "app", "macOS application", "苹果电脑应用"),
    (
        PROGRAM,
        "application appref-ms",
        "ClickOnce app that installs and runs from the internet",
        "ClickOnce 网络程序，会从网上安装并运行",
    ),
    # --- installers ----------------------------------------------------------------------------
    (INSTALLER, "msi", "Windows Installer package", "Windows 安装包", "msi ole"),
    (INSTALLER, "msp", "Windows Installer patch", "Windows 安装补丁", "ole msi"),
    (INSTALLER, "mst", "Windows Installer transform", "Windows 安装转换文件", "ole msi"),
    (INSTALLER, "msix msixbundle appx appxbundle", "Windows app package", "Windows 应用安装包", "zip"),
    (INSTALLER, "gadget", "Windows gadget (installs a program)", "Windows 小工具（会安装程序）", "zip"),
    (INSTALLER, "vsix vsto", "add-in installer", "插件安装包", "zip"),
    (INSTALLER, "pkg mpkg", "macOS installer", "苹果电脑安装包", "xar"),
    (INSTALLER, "deb rpm", "Linux installer", "Linux 安装包"),
    # --- scripts: a script host runs them -----------------------------------------------------
    (SCRIPT, "bat cmd btm", "batch script that runs commands", "批处理脚本，会执行命令", _TEXTISH),
    (SCRIPT, "ps1 psm1 psd1 ps1xml", "PowerShell script", "PowerShell 脚本", _TEXTISH),
    (SCRIPT, "psc1", "PowerShell console file", "PowerShell 控制台文件", _TEXTISH),
    (
        SCRIPT,
        "vbs vbe vb",
        "VBScript that Windows runs on double-click",
        "VBScript 脚本，双击即由 Windows 运行",
        _TEXTISH,
    ),
    (
        SCRIPT,
        "js jse",
        "JScript that Windows runs on double-click",
        "JScript 脚本，双击即由 Windows 运行",
        _TEXTISH,
    ),
    (SCRIPT, "wsf wsh ws wsc", "Windows Script Host file", "Windows 脚本宿主文件", _TEXTISH),
    (SCRIPT, "sct", "scriptlet that runs code", "会执行代码的脚本组件", _TEXTISH),
    (
        SCRIPT,
        "hta",
        "HTML application with full access to the computer",
        "HTA 网页程序，可完全控制电脑",
        _TEXTISH,
    ),
    (SCRIPT, "msc", "management console file that can run commands", "管理控制台文件，可执行命令", _TEXTISH),
    (SCRIPT, "inf", "setup information file that can run commands", "安装信息文件，可执行命令", _TEXTISH),
    (SCRIPT, "ahk", "AutoHotkey script", "AutoHotkey 脚本", _TEXTISH),
    (SCRIPT, "au3 a3x", "AutoIt script", "AutoIt 脚本"),
    (SCRIPT, "py pyw pyc pyz", "Python script", "Python 脚本"),
    (
        SCRIPT,
        "jnlp",
        "Java Web Start file that downloads and runs a program",
        "Java 网络启动文件，会下载并运行程序",
        _TEXTISH,
    ),
    (
        SCRIPT,
        "iqy",
        "Excel web query that fetches content from the internet",
        "Excel 网络查询文件，会从网上获取内容",
        _TEXTISH,
    ),
    (SCRIPT, "slk", "SYLK spreadsheet that can run commands", "SYLK 表格，可执行命令", _TEXTISH),
    (SCRIPT, "mof", "WMI script that Windows can run", "WMI 脚本，Windows 可运行", _TEXTISH),
    (SCRIPT, "sh bash command", "shell script", "Shell 脚本", _TEXTISH),
    # --- shortcuts and links that start things ------------------------------------------------
    (SHORTCUT, "lnk", "Windows shortcut that can run any command", "Windows 快捷方式，可运行任何命令", "lnk"),
    (SHORTCUT, "scf", "Explorer command file", "资源管理器命令文件", _TEXTISH),
    (
        SHORTCUT,
        "url website",
        "internet shortcut that opens a web address or program",
        "网址快捷方式，会打开网址或程序",
        _TEXTISH,
    ),
    (SHORTCUT, "desklink", "desktop shortcut", "桌面快捷方式"),
    (
        SYSTEM_LINK,
        "settingcontent-ms",
        "Windows settings link that can run commands",
        "Windows 设置链接，可执行命令",
        _TEXTISH,
    ),
    (
        SYSTEM_LINK,
        "library-ms searchconnector-ms search-ms",
        "Windows search link that can point to another computer",
        "Windows 搜索/库链接，可指向其他电脑",
        _TEXTISH,
    ),
    # --- help, registry, Office add-ins ---------------------------------------------------------
    (HELP_FILE, "chm", "compiled help file that can run commands", "CHM 帮助文件，打开时可执行命令", "chm"),
    (HELP_FILE, "hlp", "old Windows help file that can run commands", "旧式 Windows 帮助文件，可执行命令"),
    (
        REGISTRY,
        "reg",
        "registry file that changes Windows settings",
        "注册表文件，会修改 Windows 设置",
        _TEXTISH,
    ),
    (
        OFFICE_ADDIN,
        "xll",
        "Excel add-in (a program Excel loads)",
        "Excel 加载项（Excel 会加载运行的程序）",
        "pe",
    ),
    (OFFICE_ADDIN, "wll", "Word add-in (a program Word loads)", "Word 加载项（Word 会加载运行的程序）", "pe"),
    (OFFICE_ADDIN, "xlam xla", "Excel add-in with macros", "带宏的 Excel 加载项", "ooxml ole zip"),
    (OFFICE_ADDIN, "ppam ppa", "PowerPoint add-in with macros", "带宏的 PowerPoint 加载项", "ooxml ole zip"),
    # --- disk images: they open as a drive --------------------------------------------------------
    (DISK_IMAGE, "iso udf", "disk image", "光盘映像", "iso"),
    (DISK_IMAGE, "img ima vfd", "disk image", "磁盘映像"),
    (DISK_IMAGE, "vhd", "virtual hard disk", "虚拟硬盘", "vhd"),
    (DISK_IMAGE, "vhdx", "virtual hard disk", "虚拟硬盘", "vhdx"),
    (DISK_IMAGE, "dmg", "macOS disk image", "苹果电脑磁盘映像"),
    # --- documents -----------------------------------------------------------------------------
    (DOCUMENT, "pdf", "PDF document", "PDF 文档", "pdf"),
    (DOCUMENT, "doc dot", "Word document", "Word 文档", "ole rtf html xml ooxml text"),
    (DOCUMENT, "docx dotx", "Word document", "Word 文档", "ooxml zip"),
    (DOCUMENT, "docm dotm", "Word document with macros", "带宏的 Word 文档", "ooxml zip"),
    (DOCUMENT, "xls xlt", "Excel spreadsheet", "Excel 表格", "ole html xml ooxml text"),
    (DOCUMENT, "xlsx xltx", "Excel spreadsheet", "Excel 表格", "ooxml zip"),
    (DOCUMENT, "xlsm xltm xlsb", "Excel spreadsheet with macros", "带宏的 Excel 表格", "ooxml zip"),
    (DOCUMENT, "ppt pps pot", "PowerPoint presentation", "PowerPoint 演示文稿", "ole ooxml"),
    (DOCUMENT, "pptx ppsx potx", "PowerPoint presentation", "PowerPoint 演示文稿", "ooxml zip"),
    (
        DOCUMENT,
        "pptm ppsm potm",
        "PowerPoint presentation with macros",
        "带宏的 PowerPoint 演示文稿",
        "ooxml zip",
    ),
    (DOCUMENT, "wps wpt et ett dps dpt", "WPS Office document", "WPS 文档", "ole ooxml zip text"),
    (DOCUMENT, "odt ods odp odg", "OpenDocument file", "OpenDocument 文档", "odf zip"),
    (DOCUMENT, "rtf", "rich-text document", "RTF 文档", "rtf text"),
    (DOCUMENT, "ofd", "e-invoice (OFD)", "OFD 电子发票", "zip"),
    (DOCUMENT, "xps oxps", "XPS document", "XPS 文档", "zip"),
    (DOCUMENT, "epub", "e-book", "电子书", "zip"),
    (DOCUMENT, "one", "OneNote notebook", "OneNote 笔记", "onenote"),
    (DOCUMENT, "pages numbers key", "Apple iWork document", "苹果 iWork 文档", "zip"),
    # --- pictures ------------------------------------------------------------------------------
    (PICTURE, "jpg jpeg jpe jfif", "JPEG picture", "JPEG 图片", "jpeg"),
    (PICTURE, "png", "PNG picture", "PNG 图片", "png"),
    (PICTURE, "gif", "GIF picture", "GIF 图片", "gif"),
    (PICTURE, "bmp dib", "bitmap picture", "BMP 图片", "bmp"),
    (PICTURE, "webp", "WebP picture", "WebP 图片", "webp"),
    (PICTURE, "heic heif", "HEIC photo", "HEIC 照片", "heic"),
    (PICTURE, "avif", "AVIF picture", "AVIF 图片", "avif"),
    (PICTURE, "tif tiff", "TIFF picture", "TIFF 图片", "tiff"),
    (PICTURE, "ico", "icon", "图标", "ico"),
    (PICTURE, "psd", "Photoshop image", "Photoshop 图片", "psd"),
    (PICTURE, "svg", "SVG picture", "SVG 图片", "svg xml text"),
    (PICTURE, "ai eps cdr raw cr2 nef arw dng", "design or camera image", "设计稿或相机原图"),
    # --- drawings ----------------------------------------------------------------------------------
    (DRAWING, "dwg", "AutoCAD drawing", "AutoCAD 图纸", "dwg"),
    (DRAWING, "dxf dwf skp stp step stl igs iges 3ds max obj fbx", "CAD/3D model", "CAD/3D 模型"),
    # --- archives ------------------------------------------------------------------------------
    (ARCHIVE, "zip", "ZIP archive", "ZIP 压缩包", "zip jar apk ooxml odf"),
    (ARCHIVE, "rar", "RAR archive", "RAR 压缩包", "rar"),
    (ARCHIVE, "7z", "7-Zip archive", "7z 压缩包", "7z"),
    (ARCHIVE, "tar", "tar archive", "tar 压缩包", "tar"),
    (ARCHIVE, "gz tgz", "gzip archive", "gzip 压缩包", "gzip"),
    (ARCHIVE, "bz2 tbz tbz2", "bzip2 archive", "bzip2 压缩包", "bzip2"),
    (ARCHIVE, "xz txz", "xz archive", "xz 压缩包", "xz"),
    (ARCHIVE, "zst", "zstd archive", "zstd 压缩包", "zstd"),
    (ARCHIVE, "cab", "cabinet archive", "CAB 压缩包", "cab"),
    (ARCHIVE, "arj", "ARJ archive", "ARJ 压缩包", "arj"),
    (ARCHIVE, "lzh lha", "LZH archive", "LZH 压缩包", "lzh"),
    (ARCHIVE, "cpio", "cpio archive", "cpio 压缩包", "cpio"),
    (ARCHIVE, "z", "compressed file", "压缩文件"),
    # --- text, web, mail ---------------------------------------------------------------------------
    (TEXT, "txt text log md csv tsv json yaml yml ini cfg conf", "text file", "文本文件", _TEXTISH),
    (TEXT, "xml", "XML file", "XML 文件", _TEXTISH),
    (WEB, "html htm xhtml mht mhtml", "web page", "网页", _TEXTISH),
    (EMAIL, "eml msg mbox", "e-mail", "邮件", "email ole text mbox"),
    # --- media and fonts ---------------------------------------------------------------------------
    (AUDIO, "mp3 wav flac aac m4a amr ogg wma", "sound file", "音频"),
    (VIDEO, "mp4 mov avi mkv wmv flv 3gp webm m4v", "video", "视频"),
    (FONT, "ttf otf woff woff2 ttc", "font", "字体", "ttf otf woff woff2"),
)

#: Content kind (from :mod:`filewall.identify`) → (class, "is really ..." wording en, zh).
KIND_CLASSES: dict[str, tuple[FileClass, str, str]] = {
    "pe": (PROGRAM, "a Windows program", "Windows 程序"),
    "dos-mz": (PROGRAM, "a DOS program", "DOS 程序"),
    "elf": (PROGRAM, "a Linux program", "Linux 程序"),
    "macho": (PROGRAM, "a macOS program", "苹果电脑程序"),
    "dex": (PROGRAM, "Android program code", "安卓程序代码"),
    "apk": (PROGRAM, "an Android app", "安卓应用"),
    "jar": (PROGRAM, "a Java program", "Java 程序"),
    "java-class": (PROGRAM, "Java program code", "Java 程序代码"),
    "msi": (INSTALLER, "a Windows installer", "Windows 安装包"),
    "lnk": (SHORTCUT, "a Windows shortcut", "Windows 快捷方式"),
    "chm": (HELP_FILE, "a Windows help file (CHM)", "Windows 帮助文件（CHM）"),
    "reg": (REGISTRY, "a registry file", "注册表文件"),
    "hta": (SCRIPT, "an HTML application (HTA)", "HTA 网页程序"),
    "url": (SHORTCUT, "an internet shortcut", "网址快捷方式"),
    "iso": (DISK_IMAGE, "a disk image (ISO)", "光盘映像（ISO）"),
    "vhd": (DISK_IMAGE, "a virtual hard disk", "虚拟硬盘"),
    "vhdx": (DISK_IMAGE, "a virtual hard disk", "虚拟硬盘"),
    "pdf": (DOCUMENT, "a PDF document", "PDF 文档"),
    "ole": (DOCUMENT, "an Office document", "Office 文档"),
    "ooxml": (DOCUMENT, "an Office document", "Office 文档"),
    "odf": (DOCUMENT, "an OpenDocument file", "OpenDocument 文档"),
    "rtf": (DOCUMENT, "an RTF document", "RTF 文档"),
    "onenote": (DOCUMENT, "a OneNote notebook", "OneNote 笔记"),
    "jpeg": (PICTURE, "a JPEG picture", "JPEG 图片"),
    "png": (PICTURE, "a PNG picture", "PNG 图片"),
    "gif": (PICTURE, "a GIF picture", "GIF 图片"),
    "bmp": (PICTURE, "a bitmap picture", "BMP 图片"),
    "webp": (PICTURE, "a WebP picture", "WebP 图片"),
    "heic": (PICTURE, "a HEIC photo", "HEIC 照片"),
    "avif": (PICTURE, "an AVIF picture", "AVIF 图片"),
    "tiff": (PICTURE, "a TIFF picture", "TIFF 图片"),
    "ico": (PICTURE, "an icon", "图标"),
    "psd": (PICTURE, "a Photoshop image", "Photoshop 图片"),
    "svg": (PICTURE, "an SVG picture", "SVG 图片"),
    "dwg": (DRAWING, "an AutoCAD drawing", "AutoCAD 图纸"),
    "zip": (ARCHIVE, "a ZIP archive", "ZIP 压缩包"),
    "rar": (ARCHIVE, "a RAR archive", "RAR 压缩包"),
    "7z": (ARCHIVE, "a 7-Zip archive", "7z 压缩包"),
    "tar": (ARCHIVE, "a tar archive", "tar 压缩包"),
    "gzip": (ARCHIVE, "a gzip archive", "gzip 压缩包"),
    "bzip2": (ARCHIVE, "a bzip2 archive", "bzip2 压缩包"),
    "xz": (ARCHIVE, "an xz archive", "xz 压缩包"),
    "zstd": (ARCHIVE, "a zstd archive", "zstd 压缩包"),
    "cab": (ARCHIVE, "a cabinet archive", "CAB 压缩包"),
    "arj": (ARCHIVE, "an ARJ archive", "ARJ 压缩包"),
    "lzh": (ARCHIVE, "an LZH archive", "LZH 压缩包"),
    "cpio": (ARCHIVE, "a cpio archive", "cpio 压缩包"),
    "xar": (ARCHIVE, "a xar archive", "xar 压缩包"),
    "text": (TEXT, "text", "文本"),
    "uuencode": (TEXT, "uuencoded text", "uuencode 编码文本"),
    "mbox": (EMAIL, "a mailbox", "邮箱文件"),
    "xml": (TEXT, "XML text", "XML 文本"),
    "html": (WEB, "a web page", "网页"),
    "email": (EMAIL, "an e-mail", "邮件"),
    "mp3": (AUDIO, "a sound file", "音频"),
    "ogg": (AUDIO, "a sound file", "音频"),
    "flac": (AUDIO, "a sound file", "音频"),
    "mp4": (VIDEO, "a video", "视频"),
    "mkv": (VIDEO, "a video", "视频"),
    "riff": (VIDEO, "a sound or video file", "音频或视频"),
    "ttf": (FONT, "a font", "字体"),
    "otf": (FONT, "a font", "字体"),
    "woff": (FONT, "a web font", "网页字体"),
    "woff2": (FONT, "a web font", "网页字体"),
}

#: Kinds whose danger a content analyzer already states (``type.*`` rules): the name
#: analyzer does not repeat "risky extension" for them.
JUDGED_BY_CONTENT = frozenset(
    {
        "pe",
        "dos-mz",
        "elf",
        "macho",
        "dex",
        "apk",
        "jar",
        "java-class",
        "msi",
        "lnk",
        "chm",
        "reg",
        "hta",
        "url",
        "iso",
        "vhd",
        "vhdx",
    }
)

#: Extensions a disguise borrows (``报价单.pdf.exe``, ``信息列表pdf.exe``): what people expect
#: customers to send. Only these count as the "decoy" before a dangerous ending.
DECOY_CLASSES = frozenset(
    {DOCUMENT.id, PICTURE.id, ARCHIVE.id, TEXT.id, DRAWING.id, AUDIO.id, VIDEO.id, WEB.id, EMAIL.id}
)


def lookup(ext: str) -> Extension | None:
    """The table entry for ``ext`` (with or without the dot, any case), or None."""
    return EXTENSIONS.get(ext.lower().lstrip("."))


def describe_kind(kind: str) -> tuple[str, str] | None:
    """``("a Windows program", "Windows 程序")`` for a content kind, or None if unknown."""
    entry = KIND_CLASSES.get(kind)
    return (entry[1], entry[2]) if entry else None


def kind_class(kind: str) -> FileClass | None:
    """The class of a content kind (``pe`` → program), or None if unknown."""
    entry = KIND_CLASSES.get(kind)
    return entry[0] if entry else None


def decoy_extensions() -> frozenset[str]:
    """Extensions that make a harmless-looking decoy (documents, pictures, archives ...)."""
    return frozenset(ext for ext, entry in EXTENSIONS.items() if entry.cls.id in DECOY_CLASSES)


__all__ = [
    "FileClass",
    "Extension",
    "EXTENSIONS",
    "KIND_CLASSES",
    "JUDGED_BY_CONTENT",
    "lookup",
    "describe_kind",
    "kind_class",
    "decoy_extensions",
]
