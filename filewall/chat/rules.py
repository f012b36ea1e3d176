"""The conversation rules: every signal, its weight, its patterns, and what the agent reads.

This table is the whole judgement of :func:`filewall.chat.analyze_chat`; weights live here and
nowhere else, and ``tests/chat/test_rules.py`` pins them.

How the score is made
---------------------
A lure is a script with steps; each rule belongs to one **stage** of it:

============  ==============================================================  =================
stage         rules (weight)                                                  counts
============  ==============================================================  =================
context       pretext (10), urgency (5), off_platform (10)                    sum, at most 15
file          file_to_open (15)                                               strongest rule
computer      computer_only (20)                                              strongest rule
password      archive_password (20), share_code (10), password_is_filename    strongest rule
              (25), password_hint (25)
security      disable_security (30), security_reassurance (20)                strongest rule
execute       run_program (30), program_file (30), double_click (20)          strongest rule
============  ==============================================================  =================

A rule counts once however often it matches, and within a stage only the strongest rule
counts: three ways of saying "run it" are still one step of the script. The score is the sum
over the stages, capped at 100.

- ``low``    score < :data:`MEDIUM_AT` (35)
- ``medium`` :data:`MEDIUM_AT` <= score < :data:`HIGH_AT` (65)
- ``high``   score >= :data:`HIGH_AT`

Why these numbers: **no single stage reaches medium** (the largest weight is 30), because real
customers do ask for customisation, send a zip of photos, mention the antivirus, and shop
agents do tell buyers to allow a printer through the firewall. It takes a *combination* —
the lure script — to climb: a file to unpack + a password is ``15 + 20 = 35`` (medium: scan
the file before opening it); with a pretext and "open it on the computer" it is
``10 + 15 + 20 + 20 = 65`` (high). "Turn off the antivirus" or "run the viewer" reaches
medium as soon as any other stage joins it. Every point of the score comes from a rule that
quotes the agent's own words, so a ``high`` is always explained.

Patterns
--------
Rules match the *compact* view of each message (see :mod:`filewall.chat.normalize`): lower
case, simplified characters, no separators next to CJK, one space between Latin words, and a
clause break (comma, full stop, ``!?;``) kept as one ``,``. So a pattern writes ``解压密码``
once and also catches ``解 壓-密 碼``; Latin phrases are written with single spaces and wrapped
in :func:`_en`, which adds word boundaries that work next to CJK; a gap inside a Chinese
phrase is written ``[^,]{0,n}`` so that it stays within one clause. ``plain`` patterns match
the NFKC view with punctuation kept (for ``name.exe``).

A match right after a negation (``不要关闭杀毒软件``, ``do not run the exe``, ``请勿添加微信``)
does not count when the rule is ``negatable``: that is the agent or the platform warning, not
the lure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Risk thresholds on the total score (see the module docstring).
MEDIUM_AT = 35
HIGH_AT = 65
#: The context rules (pretext, urgency, off-platform) together add at most this much.
CONTEXT_CAP = 15


@dataclass(frozen=True)
class ChatRule:
    """One named signal: its weight, the lure stage it belongs to, its patterns, and its explanation."""

    name: str
    weight: int
    stage: str
    message: str
    message_zh: str
    patterns: tuple[str, ...] = ()
    plain_patterns: tuple[str, ...] = ()
    negatable: bool = True

    @property
    def context(self) -> bool:
        """Context rules add up (to :data:`CONTEXT_CAP`); other stages count their strongest rule."""
        return self.stage == "context"


def _en(pattern: str) -> str:
    """A Latin phrase with word boundaries that also hold next to CJK (``\\b`` does not)."""
    return rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])"


# Security products, as the compact view spells them.
_AV_ZH = (
    r"(?:360(?:安全卫士|杀毒)?|杀毒软件|杀毒|安全卫士|安全软件|安全中心|电脑管家|腾讯管家|火绒|金山毒霸|毒霸|卡巴斯基|诺顿"
    r"|windows ?defender|defender|防火墙|病毒防护|病毒和威胁防护|实时保护|实时防护|防护软件|安全防护|smartscreen)"
)
_AV_EN = (
    r"(?:anti ?virus(?: software| program)?|av|windows defender|defender|fire ?wall|security software|windows security"
    r"|360|smart ?screen|real ?time protection|virus protection|norton|mcafee|kaspersky|avast|avg)"
)
_COMPUTER_EN = r"(?:a |your |the |my )?(?:computer|pc|laptop|desktop|windows)"
_PHONE_EN = r"(?:the |your |a |my )?(?:phone|mobile|cell ?phone|iphone|android|cellphone)"
_ARCHIVE_NAME = r"(?:zip|rar|7z|archive|file|folder)"


def _rules(*rules: ChatRule) -> tuple[ChatRule, ...]:
    names = [rule.name for rule in rules]
    assert len(names) == len(set(names)), names
    return rules


RULES: tuple[ChatRule, ...] = _rules(
    # --- context: ordinary on their own; real customers do all of these ------------------
    ChatRule(
        name="pretext",
        weight=10,
        stage="context",
        message="The sender gives a business reason to send a file (customisation, design, quotation, invoice, list…). "
        "Real customers do this too; it only matters together with the other signals.",
        message_zh="对方用业务理由发文件（定制、设计稿、报价、发票、清单等）。真实顾客也会这样说，只有和其他信号同时出现才值得警惕。",
        patterns=(
            r"定制|订制|定做|客制|来图|设计稿|设计图|设计文件|设计方案|效果图|图纸|户型图|平面图|施工图|参考图|参考样式|样图|样品|打样"
            r"|采购(?:清单|单|需求|计划|合同|明细)|报价单?|报(?:个|一下|下)价|询价|发票|开票|合作方案|合作计划|合作协议|合作项目|商务合作|业务对接"
            r"|方案|线路图|路线图|路线|地图|坐标|需求(?:清单|文档|表|文件|明细)|规格书|产品清单|清单|明细|订货单|订购单|购物信息"
            r"|资料包|名单|稽查|税务|补贴|投诉|侵权|证据|理赔|对账单|合同|批发|大货|图稿|logo",
            _en(
                r"custom(?:ized|ised|ize|ise|isation|ization|s)?|bespoke|personali[sz](?:ed|ation)|made to order"
                r"|design(?:s| draft| file| files| mock ?up| sketch(?:es)?| brief| specs?| document)?|mock ?ups?"
                r"|drawings?|blueprints?|floor ?plans?|samples?|purchase (?:list|orders?|requirements)|po|quotations?"
                r"|quotes?|rfq|invoices?|proposal|cooperation|partnership|business plan|routes?|maps?|gps"
                r"|spec(?:ification)? sheet|specifications?|requirements?(?: list)?|bulk order|wholesale|order list"
                r"|product list|catalog(?:ue)?|price list|contract|complaint|evidence|claim form|logo|artwork"
            ),
        ),
    ),
    ChatRule(
        name="urgency",
        weight=5,
        stage="context",
        message="The sender presses you to hurry. Pressure is a classic way to stop you from checking.",
        message_zh="对方催你赶快处理。催促是让人来不及核实的常见手段。",
        patterns=(
            r"急|马上|赶紧|尽快|立刻|立即|越快越好|抓紧|快点|等不及|来不及|今天(?:就|必须|之内|内)|火速|赶时间|催",
            _en(
                r"urgent(?:ly)?|asap|as soon as possible|right now|right away|immediately|hurry|quickly|rush|deadline"
            ),
        ),
    ),
    ChatRule(
        name="off_platform",
        weight=10,
        stage="context",
        message="The sender wants to move the conversation to another app or account, where the shop's platform cannot "
        "see or filter what is sent.",
        message_zh="对方要求换到其他软件或账号上聊，平台就看不到也拦不住对方发来的东西。",
        patterns=(
            r"(?:加|添加|加我|加个|加一下|加下|通过)(?:我的?|一下|个|下)?(?:微信|vx|v信|wx|薇信|威信|qq|扣扣|企业微信|钉钉|飞书"
            r"|telegram|tg|whatsapp|电报|skype|小号|私人号|好友)"
            r"|(?:微信|vx|wx|qq|钉钉|飞书|tg|telegram|whatsapp)(?:号|号码)(?:是|为)?[a-z0-9_]{5,}"
            r"|(?:到|去|用|在|上|走)(?:微信|qq|钉钉|飞书|tg|telegram|whatsapp|企业微信|邮箱)(?:上)?"
            r"(?:聊|说|谈|传|沟通|联系|详谈|细聊|对接|接收|发你|发给你|给你发)"
            r"|换(?:个|一个)?(?:号|账号|微信|qq)(?:联系|聊|发)?"
            r"|(?:平台|这里|这边|千牛|旺旺|淘宝|拼多多|抖店|京东)(?:上)?(?:发不了|传不了|发不出去|传不上|限制|不让发|发不出"
            r"|不方便|有限制|会压缩)|扫码加|扫二维码加",
            _en(
                r"(?:add|message|contact|text|reach|find|ping|dm) (?:me|us) (?:on|via|at|through|in) (?:my )?"
                r"(?:wechat|whatsapp|telegram|skype|qq|line|signal|viber|dingtalk|email|personal account)"
                r"|(?:move|switch|continue|talk|chat|send it|send (?:you )?the files?) (?:to|on|over|via|through) (?:my )?"
                r"(?:wechat|whatsapp|telegram|skype|qq|line|signal|viber|dingtalk|email|other account|another account)"
                r"|(?:my )?(?:wechat|whatsapp|telegram|skype) (?:id|number|account)"
                r"|(?:can ?t|cannot|won ?t|unable to|not able to|(?:doesn ?t|does not|won ?t) let me) (?:send|upload|attach|share)"
                r" (?:it |the files? |files |this |that |big files )?(?:here|on this platform|in this chat|through this app)"
                r"|(?:the platform|this app|this chat|this site) (?:compresses|limits|blocks|won ?t allow|doesn ?t allow)"
            ),
        ),
    ),
    # --- the file and how to open it --------------------------------------------------------
    ChatRule(
        name="file_to_open",
        weight=15,
        stage="file",
        message="The sender sends an archive to unpack, or pushes you to open the file they sent.",
        message_zh="对方发来需要解压的压缩包，或催你打开他发的文件。",
        patterns=(
            r"压缩包(?!装)|压缩文件|解压|(?<![a-z])(?:zip|rar|7z)(?! ?code)(?![a-z])|打包(?:发|给|了|好|成)"
            r"|(?:打开|点开|下载|查看|看下|看一下|接收|收一下)(?:一下)?(?:这个|那个|我发的)(?:附件|文件|文档|资料)",
            _en(
                r"unzip|unpack|extract|zipped|compressed (?:file|folder)|archive"
                r"|(?:open|download) (?:the |this |that |my )(?:file|files|attachment|document|folder|package)"
            ),
        ),
    ),
    ChatRule(
        name="computer_only",
        weight=20,
        stage="computer",
        message="The sender insists the file be opened on the computer, not the phone. Phones cannot run Windows programs; "
        "a Trojan needs the PC.",
        message_zh="对方坚持要在电脑上打开，而不是手机。手机运行不了 Windows 程序，木马只能在电脑上发作。",
        patterns=(
            r"(?:用|在|到|拿|上|去)(?:你的?|您的?)?(?:电脑|pc|笔记本|台式机?)(?:上|端|里)?(?:下载(?:后|下来|之后)?)?"
            r"(?:打开|解压|查看|看|运行|安装|操作|浏览|点开|双击|才能|才可以|就能|就可以|可以打开|能打开)"
            r"|(?:电脑|pc)(?:版|端)|电脑(?:才能|才可以|才行|上才)|电脑上?(?:打开|解压|查看|运行|安装|点开|双击)"
            r"|手机(?:上|版|端)?(?:打不开|看不了|看不到|解压不了|无法打开|无法解压|无法查看|不能打开|不能解压|不支持|显示不了|打开不了"
            r"|预览不了|看不全|打开会乱码)"
            r"|(?:只能|只有|必须|需要|要|得)(?:用|在)电脑",
            _en(
                rf"(?:open|view|extract|unzip|run|check|see|look at|install|unpack)(?: it| this| that| them| the files?"
                rf"| the zip| the archive| the attachment)? (?:on|from|with|using) {_COMPUTER_EN}"
                rf"|(?:can ?t|cannot|won ?t|doesn ?t|does not|will not|not) (?:be )?(?:open|work|run|show|display|load|extract"
                rf"|unzip|view)\w* (?:\w+ ){{0,3}}?(?:on|in|from) {_PHONE_EN}"
                rf"|(?:on|using|from) (?:your|a) (?:computer|pc|laptop|desktop)"
                rf"|too (?:big|large) for {_PHONE_EN}|(?:pc|desktop|computer|windows) (?:version|only)"
                rf"|(?:use|switch to|need|needs|require|requires) {_COMPUTER_EN}"
                rf"|{_PHONE_EN} (?:can ?t|cannot|won ?t) (?:open|display|show|handle|extract|unzip)"
            ),
        ),
    ),
    ChatRule(
        name="archive_password",
        weight=20,
        stage="password",
        message="The sender gives a password for the file. Attackers lock archives so that chat apps and scanners cannot "
        "look inside; filewall will try the password when it scans the file.",
        message_zh="对方给了文件的解压密码。攻击者给压缩包加密，是为了让聊天软件和杀毒软件看不到里面的东西；filewall 扫描时会用这个密码打开检查。",
        patterns=(
            r"解压密码|压缩包?的?密码|解压码|(?:加密|带密码)(?:的)?(?:压缩包|文件|压缩文件)"
            r"|(?:压缩包|文件)(?:加密了|加了密|有密码|设了密码|设置了密码|带密码)",
            _en(
                rf"password ?protected|encrypted {_ARCHIVE_NAME}|{_ARCHIVE_NAME} (?:is |has )?(?:a )?(?:password|encrypted|locked)"
                rf"|password (?:for|to) (?:the |this |that )?{_ARCHIVE_NAME}|unzip password|extraction password"
            ),
        ),
    ),
    ChatRule(
        name="share_code",
        weight=10,
        stage="password",
        message="The sender gives an extraction code for a cloud-drive link. filewall will try it on the downloaded file.",
        message_zh="对方给了网盘链接的提取码。filewall 会用它去打开下载的文件。",
        patterns=(r"提取码|访问码|分享码", _en(r"extraction code|access code")),
    ),
    ChatRule(
        name="password_is_filename",
        weight=25,
        stage="password",
        message="The sender says the password is the file name. This trick gets the password past chat filters; "
        "it is typical of Trojan archives, not of customers.",
        message_zh="对方说密码就是文件名。这种说法是为了躲过聊天过滤，是木马压缩包的典型话术，正常顾客不会这样发文件。",
        patterns=(
            r"(?:解压|压缩包?)?(?:密码|解压码)(?:就|都|也)?(?:是|为)?(?:文件名|文件的名字|文件名称|压缩包的?名字|压缩包名|标题)"
            r"|(?:文件名|文件名称|压缩包的?名字|压缩包名)(?:就|也)?(?:是|为)(?:解压)?密码",
            _en(
                r"password (?:is |= )?(?:the |same as the )?(?:file ?name|name of the (?:file|archive|zip|folder)"
                r"|archive name|zip name)|(?:file ?name|archive name) is (?:the |also the )?password"
            ),
        ),
        negatable=False,
    ),
    ChatRule(
        name="password_hint",
        weight=25,
        stage="password",
        message="The sender makes you work out the password from something you know (the last digits of a phone or order "
        "number, your shop name). This hides the password from filters; customers do not do this.",
        message_zh="对方让你用自己知道的信息推出密码（手机号或订单号后几位、店铺名等）。这是为了躲避过滤，正常顾客不会这样做。",
        patterns=(
            r"(?:密码|解压码|口令)[^,]{0,14}?(?:后|末|前)[三四六八3468]位"
            r"|(?:后|末|前)[三四六八3468]位(?:数字|数)?(?:就|即)?(?:是|为|作为|当)(?:解压)?(?:密码|解压码)"
            r"|(?:密码|解压码)(?:就|都)?(?:是|为)(?:你|您|贵)?(?:的|们)?(?:店铺|店|公司)?(?:的)?(?:手机号码?|电话号码?|订单号"
            r"|店铺名|店名|旺旺名|公司名|qq号)",
            _en(
                r"password .{0,40}?(?:last|first) (?:three|four|six|eight|3|4|6|8) (?:digits|numbers|characters)"
                r"|(?:last|first) (?:three|four|six|eight|3|4|6|8) (?:digits|numbers) .{0,30}?(?:is|are|as) (?:the )?password"
                r"|password is (?:your|the) (?:shop |store |company )?(?:phone|order|store|shop|company) (?:number|name|id)"
            ),
        ),
        negatable=False,
    ),
    # --- what the sender wants you to do ----------------------------------------------------
    ChatRule(
        name="double_click",
        weight=20,
        stage="execute",
        message="The sender tells you to double-click the file. A real picture or document does not need instructions; "
        "a program dressed as one does.",
        message_zh="对方叫你双击打开文件。真的图片或文档不需要教你怎么打开，伪装成图片的程序才需要。",
        patterns=(
            # any "双击 …" except the live-stream slang "双击666" / "双击屏幕" (= like)
            r"双击(?!\d|屏幕|点赞|关注|小红心|红心)",
            _en(
                r"double ?click(?:s|ing)?(?: on)? (?:it|the|that|this|them|each|file|picture|image|photo|icon|exe|program)"
            ),
        ),
    ),
    ChatRule(
        name="run_program",
        weight=30,
        stage="execute",
        message="The sender asks you to run or install something: a program, a 'viewer', a plug-in or a self-extracting "
        "file. Customers never need you to run their software. Do not run it.",
        message_zh="对方要求你运行或安装东西：程序、“查看器”、插件或自解压文件。顾客从来不需要你运行他们的软件。不要运行。",
        patterns=(
            # "安装程序" on its own is a noun (an installer), not "install the program"
            r"(?:运行|安装|执行|启动|打开|双击|点开|点击)(?:一下|下)?(?:里面的?|压缩包里的?|文件里的?|那个|这个|我发的|解压出来的?"
            r"|解压后的?)?(?:exe|应用程序|(?<!安装)程序|查看器|阅读器|播放器|插件|补丁|安装程序|setup|自解压)"
            r"|(?:我发的|发你的|给你的|附带的|里面的|压缩包里的?|自带的?|专用的?|专门的)(?:查看器|阅读器|播放器|看图软件|软件|程序"
            r"|插件|工具|客户端|浏览器)"
            r"|(?:我们的|我们公司的?|公司的)[^,]{0,4}?(?:查看器|阅读器|播放器|看图软件)"
            r"|(?:需要|要|得|先|必须)(?:下载|装|安装)(?:一个|个|一下|下)?(?:查看器|阅读器|播放器|插件|看图软件|补丁)"
            r"|自解压",
            _en(
                r"(?:run|install|launch|execute|open|start|double ?click(?: on)?) (?:the |this |that |our |my |a |an )?"
                r"(?:exe|program|viewer|reader|player|plug ?in|installer|setup|self ?extracting|sfx|launcher)"
                r"|(?:special|dedicated|proprietary|secure|our own|custom|included|attached|bundled) "
                r"(?:viewer|reader|player|plug ?in|program|software)"
                r"|(?:viewer|reader|player|plug ?in|program|software|tool) (?:i |we |is |are )?"
                r"(?:attached|included|sent|bundled)"
                r"|self ?extract(?:ing|or)|sfx"
            ),
        ),
    ),
    ChatRule(
        name="program_file",
        weight=30,
        stage="execute",
        message="A program or script file is named in the chat (.exe, .bat, .chm, .msi, .lnk …). Pictures and documents "
        "are never programs. Do not open it.",
        message_zh="聊天里出现了程序或脚本文件（.exe、.bat、.chm、.msi、.lnk 等）。图片和文档不可能是程序。不要打开。",
        patterns=(
            r"(?<![a-z0-9])exe(?![a-z])|后缀(?:是|为|显示)?(?:exe|bat|scr|chm|msi|lnk|vbs|cmd)"
            r"|(?:bat|chm|scr|vbs|lnk|hta|msi)(?:文件|格式|后缀)",
        ),
        plain_patterns=(
            # bounded name length: an unbounded "+" before "\." is quadratic on long lines
            r"[\w\u3400-\u9fff()（）\-]{1,60}\.(?:exe|scr|pif|bat|cmd|vbs|vbe|jse|wsf|hta|lnk|chm|msi|ps1|cpl|reg)(?![A-Za-z0-9])",
        ),
    ),
    ChatRule(
        name="disable_security",
        weight=30,
        stage="security",
        message="The sender asks you to switch off the antivirus or firewall, ignore a security warning, or click "
        "'Allow'/'Yes'/'Run anyway'. No real customer ever needs this. Do not do it.",
        message_zh="对方要求你关闭杀毒软件或防火墙、忽略安全警告，或者点“允许”“是”“仍要运行”。真实顾客绝不会提这种要求。不要照做。",
        patterns=(
            rf"(?:关闭|关掉|关了|关一下|关下|退出|禁用|暂停|停用|卸载|卸了|先关|暂时关|退掉|停掉|关)(?:一下|下|掉|了)?"
            rf"(?:你的?|您的?|电脑的?|电脑上的?)?{_AV_ZH}"
            rf"|{_AV_ZH}(?:先|暂时|临时)?(?:关闭|关掉|关了|关一下|关下|退出|退了|禁用|暂停|卸载|停用|关一会)"
            rf"|把{_AV_ZH}[^,]{{0,4}}?(?:关|退出|禁用|卸载)"
            r"|(?:报毒|误报|提示病毒|提示有病毒|提示风险|风险提示|安全提示|拦截|弹窗|警告|安全警告|提示危险|提示不安全)(?:了)?"
            r"(?:也)?(?:不用管|别管|不要管|忽略|不用理|唔使理|唔好理|点允许|点信任|放行|添加信任|点继续|点确定|点是|点运行)"
            r"|(?:点|点击|选|选择|勾选|按|撳)(?:一下)?(?:允许|信任|仍要运行|仍然运行|继续运行|确定运行|允许运行|添加信任|放行|更多信息"
            r"|始终允许)"
            r"|(?:弹窗|弹出来|提示|对话框|警告|窗口)(?:的话|时候|了)?[^,]{0,12}?(?:点|点击|选|选择|按|撳)(?:是|yes|确定|继续|运行)"
            r"|加(?:入)?(?:白名单|信任)|添加(?:到)?(?:白名单|信任区?|排除项)|忽略(?:警告|提示|风险|报毒)",
            _en(
                rf"(?:turn|switch|shut) off (?:the |your |windows )?{_AV_EN}|{_AV_EN} off"
                rf"|(?:disable|pause|stop|quit|exit|close|uninstall) (?:the |your |windows )?{_AV_EN}"
                rf"|{_AV_EN} .{{0,40}}?(?:(?:turn|switch|shut) (?:it|that) off|disable it|close it)"
                r"|(?:ignore|dismiss|skip|bypass) (?:the |any |that |this |all )?(?:virus |security )?(?:warnings?|alerts?"
                r"|pop ?ups?|prompts?|smart ?screen)"
                r"|(?:click|hit|press|choose|select|tap) (?:on )?(?:allow|yes|run|run anyway|more info|trust|keep anyway)"
                r"|run anyway|keep anyway|allow access"
                r"|add (?:it )?(?:to )?(?:the )?(?:exceptions?|exclusions?|whitelist|allow ?list)"
            ),
        ),
    ),
    ChatRule(
        name="security_reassurance",
        weight=20,
        stage="security",
        message="The sender explains away a security warning before you see it ('the antivirus will complain, it's a "
        "false alarm', 'it is not a virus'). Customers' photos do not trigger antivirus warnings.",
        message_zh="对方提前替杀毒软件的警告找理由（“会误报”“不是病毒”“放心打开”）。顾客的照片根本不会触发杀毒警告。",
        patterns=(
            rf"(?:报毒|拦截|提示病毒|提示有毒|提示风险|风险提示|警告)(?:是|都是|属于)?(?:正常|误报|假的)|误报"
            rf"|(?:不是|没有|没|不会有|不含|不带|绝对没有|保证没有|肯定没有)(?:病毒|木马)|不会中毒"
            rf"|{_AV_ZH}(?:可能|要是|如果|一般)?(?:会)?(?:报毒|误报|拦截|报警|提示有?病毒|提示风险)"
            r"|放心(?:打开|解压|运行|点开|双击|安装)",
            _en(
                rf"false (?:positive|alarm)|(?:not|isn ?t|is not|no|without) (?:a |any )?(?:virus(?:es)?|malware|trojan)"
                rf"|virus ?free|(?:{_AV_EN}|windows) (?:may |might |will |would |could |sometimes |often |usually )?"
                rf"(?:(?:complain|warn|flag|block|report|detect|remove|delete|quarantine)s?|pop up"
                rf"|(?:show|give|display)s? (?:you )?(?:a |an )?(?:\w+ )?(?:warning|alert))"
                r"|(?:100 ?%|completely|totally|perfectly|absolutely) safe(?! for)|safe to (?:open|run|install|click|extract)"
                r"|won ?t harm"
            ),
        ),
    ),
)

#: Rules by name.
RULES_BY_NAME: dict[str, ChatRule] = {rule.name: rule for rule in RULES}

#: What a match must not directly follow for a negatable rule to count: a warning, not a lure.
NEGATION_ZH = re.compile(
    r"(?:不要|不用|不需要|无需|不必|别|勿|切勿|请勿|千万别|千万不要|绝不要|没有|没|不会|不能|禁止|严禁|谨防|小心|警惕|防止"
    r"|不着|不)(?:再|去|把|将|随便|轻易|随意|乱|给|帮)?"
    # either right before the match, or an action verb then a short object ("不要打开陌生人发的exe")
    r"(?:(?:打开|点开|运行|下载|接收|点|点击|双击|安装|解压|理会|相信|听|按|用|去)?|(?:打开|点开|运行|下载|接收|点击|双击|安装|解压).{1,6})$"
)
NEGATION_EN = re.compile(
    r"(?<![a-z])(?:don ?t|do not|dont|never|no need to|no|(?<!if )(?<!or )not|didn ?t|won ?t|shouldn ?t|should not"
    r"|must not|mustn ?t|avoid|beware of|careful with)(?: ever| need to| have to| try to| to)?"
    r"(?: (?:open|run|click|double click|install|download|extract|unzip|accept|trust|follow|use))?"
    r"(?: the| any| a| an)? ?$"
)
#: ``要不`` ("how about …") ends in 不 but proposes rather than forbids.
NOT_NEGATION_ZH = re.compile(r"要不$")
