rule lnk_runs_script_host
{
    meta:
        description = "Windows shortcut whose target or arguments start a script host or shell"
        score = 8
    strings:
        $h1 = "powershell" nocase ascii wide
        $h2 = "mshta" nocase ascii wide
        $h3 = "cmd.exe" nocase ascii wide
        $h4 = "wscript" nocase ascii wide
        $h5 = "cscript" nocase ascii wide
        $h6 = "rundll32" nocase ascii wide
        $h7 = "regsvr32" nocase ascii wide
        $h8 = "conhost" nocase ascii wide
        $h9 = "forfiles" nocase ascii wide
        $h10 = "msiexec" nocase ascii wide
        $h11 = "certutil" nocase ascii wide
        $h12 = "bitsadmin" nocase ascii wide
        $h13 = /cmd\s*\/[ck]/ nocase ascii wide
    condition:
        uint32(0) == 0x0000004c and uint32(4) == 0x00021401 and any of them
}

rule onenote_embedded_runnable
{
    meta:
        description = "OneNote section embedding a script, shortcut or executable"
        score = 8
    strings:
        $store = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC }
        $s1 = "<script" nocase
        $s2 = "WScript" nocase
        $s3 = "powershell" nocase
        $s4 = "@echo off" nocase
        $s5 = "cmd /c" nocase
        $s6 = "This program cannot be run in DOS mode"
        $s7 = "<hta:application" nocase
        $s8 = { 4C 00 00 00 01 14 02 00 00 00 00 00 C0 00 00 00 00 00 00 46 }
        $s9 = "CreateObject" nocase
    condition:
        uint32(0) == 0x7b5c52e4 and $store and any of ($s*)
}

rule disk_image_with_shortcut
{
    meta:
        description = "Disk image carrying a Windows shortcut (a common loader pattern)"
        score = 6
    strings:
        $lnk = { 4C 00 00 00 01 14 02 00 00 00 00 00 C0 00 00 00 00 00 00 46 }
        $cd = "CD001"
        $udf1 = "BEA01"
        $udf2 = "NSR02"
        $udf3 = "NSR03"
    condition:
        ($cd at 0x8001 or $udf1 at 0x8001 or $udf2 at 0x8801 or $udf3 at 0x8801 or uint16(510) == 0xaa55)
        and $lnk
}
