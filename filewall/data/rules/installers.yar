/*
 * Installer packages that the file-type table does not name. A customer never needs to
 * send an installer; like type.installer, these are reported. Written for filewall (Apache-2.0).
 */

rule Symbian_SIS_Installer
{
    meta:
        severity = "high"
        description = "an app installer for old Nokia (Symbian) phones; customers never need to send installers"
        description_zh = "旧款诺基亚（塞班）手机的应用安装包；顾客从来不需要发安装包"
        reference = "SIS header: UID2 0x10003A12 (or 0x1000006D), UID3 0x10000419"

    condition:
        filesize > 0x40 and uint32(8) == 0x10000419 and
        (uint32(4) == 0x10003A12 or uint32(4) == 0x1000006D)
}
