rule powershell_download_cradle
{
    meta:
        description = "PowerShell that downloads and runs code"
        score = 8
    strings:
        $dl1 = "DownloadString" nocase ascii wide
        $dl2 = "DownloadFile" nocase ascii wide
        $dl3 = "DownloadData" nocase ascii wide
        $dl4 = "Invoke-WebRequest" nocase ascii wide
        $dl5 = "Invoke-RestMethod" nocase ascii wide
        $dl6 = "Start-BitsTransfer" nocase ascii wide
        $dl7 = /\biwr\s+(-uri\s+)?['"]?https?:/ nocase ascii wide
        $dl8 = "Net.WebClient" nocase ascii wide
        $ex1 = /\biex\b/ nocase ascii wide
        $ex2 = "Invoke-Expression" nocase ascii wide
        $ex3 = "Start-Process" nocase ascii wide
        $ex4 = /\|\s*&?\s*\(?\s*\$env:comspec/ nocase ascii wide
        $ex5 = ".Invoke(" nocase ascii wide
        $ex6 = "powershell" nocase ascii wide
    condition:
        any of ($dl*) and any of ($ex*)
}

rule powershell_encoded_command
{
    meta:
        description = "PowerShell started with a base64-encoded command"
        score = 5
    strings:
        $ps = "powershell" nocase ascii wide
        $enc = /\s-(e|ec|enc|enco|encod|encode|encoded|encodedc|encodedcommand)\s+[A-Za-z0-9+\/=]{20,}/ nocase ascii wide
    condition:
        $ps and $enc
}

rule wsh_download_execute
{
    meta:
        description = "Windows Script Host code that downloads a file and runs it"
        score = 8
    strings:
        $dl1 = "MSXML2.XMLHTTP" nocase ascii wide
        $dl2 = "WinHttp.WinHttpRequest" nocase ascii wide
        $dl3 = "MSXML2.ServerXMLHTTP" nocase ascii wide
        $dl4 = "Microsoft.XMLHTTP" nocase ascii wide
        $st = "ADODB.Stream" nocase ascii wide
        $ex1 = "WScript.Shell" nocase ascii wide
        $ex2 = "Shell.Application" nocase ascii wide
        $ex3 = ".ShellExecute" nocase ascii wide
    condition:
        any of ($dl*) and ($st or any of ($ex*))
}

rule lolbin_remote_execution
{
    meta:
        description = "Windows binary abused to fetch or run remote code (mshta, regsvr32, certutil, bitsadmin)"
        score = 8
    strings:
        $a1 = /mshta(\.exe)?["']?\s+["']?(https?:|vbscript:|javascript:)/ nocase ascii wide
        $a2 = /regsvr32(\.exe)?[^\r\n]{0,60}\/i:https?:/ nocase ascii wide
        $a3 = /certutil(\.exe)?[^\r\n]{0,40}-urlcache/ nocase ascii wide
        $a4 = /bitsadmin(\.exe)?[^\r\n]{0,40}\/transfer/ nocase ascii wide
        $a5 = /rundll32(\.exe)?[^\r\n]{0,80}(javascript:|url\.dll|https?:)/ nocase ascii wide
        $a6 = /msiexec(\.exe)?[^\r\n]{0,40}\/[iq][^\r\n]{0,20}https?:/ nocase ascii wide
        $a7 = /curl(\.exe)?\s+[^\r\n]{0,80}-o\s/ nocase ascii wide
    condition:
        any of them
}
