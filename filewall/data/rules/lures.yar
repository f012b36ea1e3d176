/*
 * Lures used against online-shop customer service (fake buyers sending "requirements",
 * "drawings", "order lists"). Written for filewall (Apache-2.0) from the techniques in
 * docs/research (threats-cs-lures.md §1: L10 CHM, L12 LNK, L14 SFX, L15 Office, L17 HTA
 * and OneNote). Each rule needs the file's structure *and* a command, so ordinary
 * documents, shortcuts and installers do not match.
 */

rule SFX_Runs_Script_Host
{
    meta:
        severity = "critical"
        description = "a self-extracting archive set to run a script or command as soon as it is opened"
        description_zh = "自解压程序，一打开就会自动运行脚本或命令"

    strings:
        $7z_config = ";!@Install@!UTF-8!"
        $7z_run = /(RunProgram|ExecuteFile|ExecuteParameters)\s*=\s*"[^"\n]{0,200}(wscript|cscript|powershell|pwsh|cmd(\.exe)?\s*\/c|mshta|rundll32|regsvr32|\.vbs|\.vbe|\.jse?\b|\.bat|\.cmd|\.ps1|\.hta)/ nocase
        $rar_comment = ";The comment below contains SFX script commands" nocase
        $rar_setup = /\bSetup\s*=\s*[^\r\n]{0,200}(wscript|cscript|powershell|pwsh|cmd|mshta|rundll32|regsvr32|\.vbs|\.vbe|\.jse?\b|\.bat|\.cmd|\.ps1|\.hta|\.exe)/ nocase
        $rar_silent = /\bSilent\s*=\s*[12]/ nocase

    condition:
        uint16(0) == 0x5A4D and
        (($7z_config and $7z_run) or ($rar_comment and $rar_setup and $rar_silent))
}

rule LNK_Runs_Command_Interpreter
{
    meta:
        severity = "critical"
        description = "a shortcut that starts PowerShell, cmd or another Windows tool with a hidden or downloading command"
        description_zh = "快捷方式会启动 PowerShell、cmd 等系统工具，执行隐藏或下载类命令"

    strings:
        $host1 = "powershell" ascii wide nocase
        $host2 = "pwsh" ascii wide nocase
        $host3 = "cmd.exe" ascii wide nocase
        $host4 = "mshta" ascii wide nocase
        $host5 = "wscript" ascii wide nocase
        $host6 = "cscript" ascii wide nocase
        $host7 = "rundll32" ascii wide nocase
        $host8 = "regsvr32" ascii wide nocase
        $host9 = "conhost" ascii wide nocase
        $arg1 = "-enc" ascii wide nocase
        $arg2 = "hidden" ascii wide nocase
        $arg3 = "iex" ascii wide nocase fullword
        $arg4 = "invoke-expression" ascii wide nocase
        $arg5 = "downloadstring" ascii wide nocase
        $arg6 = "downloadfile" ascii wide nocase
        $arg7 = "invoke-webrequest" ascii wide nocase
        $arg8 = "frombase64string" ascii wide nocase
        $arg9 = "http:" ascii wide nocase
        $arg10 = "https:" ascii wide nocase
        $arg11 = "javascript:" ascii wide nocase
        $arg12 = "vbscript:" ascii wide nocase
        $arg13 = "/c " ascii wide nocase
        $arg14 = "\\\\" ascii wide

    condition:
        uint32(0) == 0x0000004C and uint32(4) == 0x00021401 and
        any of ($host*) and any of ($arg*)
}

rule HTA_Runs_Shell_Commands
{
    meta:
        severity = "critical"
        description = "an HTML application (HTA) that runs Windows commands"
        description_zh = "HTA 网页程序，会执行 Windows 命令"

    strings:
        $hta = "<hta:application" ascii wide nocase
        $shell1 = "WScript.Shell" ascii wide nocase
        $shell2 = "Shell.Application" ascii wide nocase
        $shell3 = "Scripting.FileSystemObject" ascii wide nocase
        $shell4 = "ADODB.Stream" ascii wide nocase

    condition:
        $hta and any of ($shell*)
}

rule OneNote_Embeds_Executable
{
    meta:
        severity = "critical"
        description = "a OneNote notebook with a hidden program, shortcut, help file or script inside"
        description_zh = "OneNote 笔记里藏着程序、快捷方式、帮助文件或脚本"

    strings:
        // FileDataStoreObject: its GUID, 20 bytes of header, then the embedded file.
        $pe = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC [20] 4D 5A }
        $lnk = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC [20] 4C 00 00 00 01 14 02 00 }
        $chm = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC [20] 49 54 53 46 }
        $hta = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC [20] 3C 68 74 61 3A }
        $bat = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC [20] 40 65 63 68 6F }
        $wsf = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC [20] 3C 6A 6F 62 }

    condition:
        uint32be(0) == 0xE4525C7B and uint32be(4) == 0x8CD8A74D and any of them
}

rule CHM_ShortCut_Command
{
    meta:
        severity = "critical"
        description = "a help page (CHM) that runs a program through the HTML Help control"
        description_zh = "帮助文件（CHM）页面会通过帮助控件运行程序"

    strings:
        $clsid = "adb880a6-d8ff-11cf-9377-00aa003b7a11" ascii wide nocase
        $command = /name\s*=\s*["']?command["']?\s+value\s*=\s*["']?shortcut/ nocase
        $item = /name\s*=\s*["']?item1["']?\s+value\s*=/ nocase

    condition:
        $clsid and $command and $item
}

rule Office_Remote_Template
{
    meta:
        severity = "high"
        description = "an Office document that loads a template or object from the internet when opened"
        description_zh = "Office 文档打开时会从网上加载模板或对象"

    strings:
        $template = "/attachedTemplate\"" ascii
        $ole = "/oleObject\"" ascii
        $external = "TargetMode=\"External\"" ascii
        $remote = /Target\s*=\s*"(https?:|\\\\|file:|mhtml:)/ nocase

    condition:
        filesize < 1MB and ($template or $ole) and $external and $remote
}

rule Winos_ValleyRAT_Strings
{
    meta:
        severity = "critical"
        description = "contains strings of the Winos/ValleyRAT remote-control Trojan used by the Silver Fox (银狐) gang"
        description_zh = "含有“银狐”团伙使用的 Winos/ValleyRAT 远控木马的特征字符串"
        reference = "Strings as publicly reported for Winos 4.0 / ValleyRAT (threats-cs-lures.md §3); condition written for filewall"

    strings:
        $key = "d33f351a4aeea5e608853d1a56661059" ascii wide
        $c2a = "IpDatespecial" ascii wide
        $c2b = "IpDates_info" ascii wide
        $flag = "onlyloadinmyself" ascii wide
        $vas = "Software\\Tencent\\Plugin\\VAS" ascii wide nocase

    condition:
        2 of them
}
