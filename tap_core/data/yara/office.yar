rule vba_autoexec_download_execute
{
    meta:
        description = "VBA macro that runs on open and downloads or launches a program"
        score = 6
    strings:
        $sub = "sub " nocase
        $auto1 = "AutoOpen" nocase
        $auto2 = "Auto_Open" nocase
        $auto3 = "Document_Open" nocase
        $auto4 = "Workbook_Open" nocase
        $auto5 = "Document_Close" nocase
        $auto6 = "AutoClose" nocase
        $auto7 = "Auto_Close" nocase
        $auto8 = "Workbook_Activate" nocase
        $auto9 = "_Layout" nocase
        $dl1 = "URLDownloadToFile" nocase
        $dl2 = "MSXML2.XMLHTTP" nocase
        $dl3 = "WinHttp.WinHttpRequest" nocase
        $dl4 = "ServerXMLHTTP" nocase
        $dl5 = "Net.WebClient" nocase
        $dl6 = "ADODB.Stream" nocase
        $dl7 = "InternetExplorer.Application" nocase
        $ex1 = "WScript.Shell" nocase
        $ex2 = "Shell.Application" nocase
        $ex3 = /\bShell\s*\(/ nocase
        $ex4 = "ShellExecute" nocase
        $ex5 = "powershell" nocase
        $ex6 = "Win32_Process" nocase
        $ex7 = "CallByName" nocase
        $ex8 = "mshta" nocase
    condition:
        $sub and any of ($auto*) and (any of ($dl*) or any of ($ex*))
}

rule excel4_macro_sheet
{
    meta:
        description = "OOXML workbook with an Excel 4 (XLM) macro sheet"
        score = 5
    strings:
        $sheet = "xl/macrosheets/" nocase
    condition:
        uint32(0) == 0x04034b50 and $sheet
}

rule excel4_macro_execute
{
    meta:
        description = "Excel 4 (XLM) formulas that call the Windows API or run programs"
        score = 8
    strings:
        $slk = "ID;P"
        $macro = "xl/macrosheets/" nocase
        $xlm1 = "EXEC(" nocase
        $xlm2 = "CALL(" nocase
        $xlm3 = "REGISTER(" nocase
        $xlm4 = "URLDownloadToFile" nocase
        $xlm5 = "ShellExecute" nocase
        $xlm6 = "FORMULA.FILL(" nocase
        $auto = "Auto_Open" nocase
    condition:
        ($slk at 0 or $macro or $auto) and any of ($xlm*)
}

rule dde_field_command
{
    meta:
        description = "Dynamic Data Exchange field or formula that starts a program"
        score = 8
    strings:
        $dde1 = /DDEAUTO\s+[^\r\n]{0,80}/ nocase
        $dde2 = /\{\\fldinst[^}]{0,40}DDE /
        $dde3 = /\x13\s*DDE(AUTO)?\s/
        $csv = /(^|[,;\t\n])["']?[=+\-@][A-Za-z]{2,20}\|['"][^|\n]{1,200}['"]![A-Za-z0-9$]+/
        $xml = /w:instr="\s*DDE(AUTO)?\s/ nocase
    condition:
        any of them
}
