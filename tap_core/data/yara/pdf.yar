rule pdf_launch_program
{
    meta:
        description = "PDF Launch action that starts a program or script host"
        score = 10
    strings:
        $pdf = "%PDF"
        $launch = "/Launch"
        $p1 = "cmd.exe" nocase
        $p2 = "powershell" nocase
        $p3 = "mshta" nocase
        $p4 = "wscript" nocase
        $p5 = "cscript" nocase
        $p6 = /\.(exe|bat|cmd|vbs|js|hta|scr|lnk)\b/ nocase
    condition:
        $pdf in (0..1024) and $launch and any of ($p*)
}

rule pdf_javascript_exploit_api
{
    meta:
        description = "PDF JavaScript using APIs known from reader exploits or heap sprays"
        score = 8
    strings:
        $a1 = "util.printf" nocase
        $a2 = "Collab.getIcon" nocase
        $a3 = "Collab.collectEmailInfo" nocase
        $a4 = "media.newPlayer" nocase
        $a5 = "spell.customDictionaryOpen" nocase
        $a6 = "getAnnots" nocase
        $a7 = "printSeps" nocase
        $spray = /unescape\s*\(\s*["']%u[0-9a-fA-F]{4}/
    condition:
        any of them
}

rule pdf_openaction_obfuscated_javascript
{
    meta:
        description = "PDF that runs obfuscated JavaScript when opened"
        score = 6
    strings:
        $pdf = "%PDF"
        $open = "/OpenAction"
        $js = "/JavaScript"
        $o1 = "eval(" nocase
        $o2 = "unescape(" nocase
        $o3 = "String.fromCharCode" nocase
        $o4 = "atob(" nocase
    condition:
        $pdf in (0..1024) and $open and $js and any of ($o*)
}
