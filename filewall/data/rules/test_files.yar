/*
 * Anti-virus test files. They are harmless on purpose; every anti-virus reports them so
 * that people can check their scanner works, and filewall does too.
 * Written for filewall (Apache-2.0).
 */

import "hash"

rule EICAR_Test_File
{
    meta:
        severity = "critical"
        description = "the EICAR anti-virus test file (harmless, but every anti-virus reports it)"
        description_zh = "EICAR 杀毒软件测试文件（本身无害，但所有杀毒软件都会报它）"
        reference = "eicar.org Anti-Malware Testfile: 68-byte prefix, then only SP/TAB/LF/CR/CTRL-Z, total at most 128 bytes"

    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

    condition:
        // Exactly as the specification says: the string at offset 0, optionally followed
        // by whitespace from that set only, and the whole file no longer than 128 bytes.
        $eicar at 0 and filesize <= 128 and
        (filesize == 68 or
         for all i in (68 .. filesize - 1) : (
             uint8(i) == 0x20 or uint8(i) == 0x09 or uint8(i) == 0x0A or
             uint8(i) == 0x0D or uint8(i) == 0x1A))
}

rule ClamAV_Test_File
{
    meta:
        severity = "critical"
        description = "ClamAV's test program clam.exe (harmless, but every anti-virus reports it)"
        description_zh = "ClamAV 的测试程序 clam.exe（本身无害，但杀毒软件都会报它）"
        reference = "ClamAV unit_tests/input/clamav.hdb: 71e7b604...4495:544:ClamAV-Test-File"

    condition:
        filesize == 544 and uint16(0) == 0x5A4D and
        hash.sha256(0, filesize) == "71e7b604d18aefd839e51a39c88df8383bb4c071dc31f87f00a2b5df580d4495"
}

rule ClamAV_Test_File_Embedded
{
    meta:
        severity = "critical"
        description = "contains the bytes of ClamAV's test program clam.exe, stored inside another file"
        description_zh = "里面夹带了 ClamAV 测试程序 clam.exe 的内容"

    strings:
        // clam.exe's 16-bit stub and entry code (offset 0x40) and its two marker strings.
        $code = { BB 71 10 40 00 33 C0 50 50 8B F3 53 53 50 B0 29 40 30 04 66 AC 79 F9 BA 31 00 78 0D AD 50 FF 66 }
        $import = "CLAMessageBoxA"
        $marker = "[CLAMAV]"

    condition:
        not ClamAV_Test_File and
        for any i in (1 .. #code) : (
            $import in (@code[i] .. @code[i] + 544) and $marker in (@code[i] .. @code[i] + 544))
}

rule ClamAV_Test_File_Base64
{
    meta:
        severity = "critical"
        description = "contains ClamAV's test program clam.exe hidden as base64 text (e.g. in a web page link or an e-mail)"
        description_zh = "里面以 base64 编码的形式夹带了 ClamAV 测试程序 clam.exe（例如藏在网页链接或邮件里）"

    strings:
        $code = "\xBB\x71\x10\x40\x00\x33\xC0\x50\x50\x8B\xF3\x53\x53\x50\xB0\x29\x40\x30\x04\x66\xAC\x79\xF9\xBA\x31\x00\x78\x0D\xAD\x50\xFF\x66" base64 base64wide
        $import = "CLAMessageBoxA" base64 base64wide
        $marker = "[CLAMAV]" base64 base64wide

    condition:
        all of them
}
