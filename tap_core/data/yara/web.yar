rule html_smuggling
{
    meta:
        description = "HTML smuggling: a script builds a file from embedded data and saves it"
        score = 10
    strings:
        $blob = /new\s+Blob\s*\(/ nocase
        $save1 = "msSaveOrOpenBlob" nocase
        $save2 = "createObjectURL" nocase
        $dl1 = /\.download\s*=/ nocase
        $dl2 = "setAttribute(\"download\"" nocase
        $dl3 = "setAttribute('download'" nocase
        $dl4 = ".click()" nocase
        $b64a = "atob(" nocase
        $b64c = "Uint8Array" nocase
        // base64 of file headers (MZ, zip, 7z, rar, OLE, PDF, gzip): literal atoms keep the rule fast
        $h1 = "TVqQAAMAAAAEAAAA"
        $h2 = "UEsDBBQA"
        $h3 = "UEsDBAoA"
        $h4 = "N3q8ryc"
        $h5 = "UmFyIRoH"
        $h6 = "0M8R4KGxGuE"
        $h7 = "JVBERi0"
        $h8 = "H4sIA"
    condition:
        filesize < 50MB and $blob and any of ($save*) and any of ($dl*) and (any of ($b64*) or any of ($h*))
}

rule html_data_uri_download
{
    meta:
        description = "HTML link that downloads an embedded executable, archive or disk image"
        score = 8
    strings:
        $d = /data:application\/(octet-stream|x-msdownload|zip|x-zip-compressed|x-iso9660-image|x-rar|x-7z-compressed|hta|x-javascript)[^"'\s]{0,40};base64,/ nocase
        $attr = /\bdownload\s*=/ nocase
    condition:
        $d and $attr
}

rule svg_embedded_script
{
    meta:
        description = "SVG image that carries script or HTML (used for phishing redirects)"
        score = 5
    strings:
        $svg = "<svg" nocase
        $s1 = "<script" nocase
        $s2 = "<foreignObject" nocase
        $s3 = /\bon(load|click|mouseover)\s*=/ nocase
    condition:
        $svg and any of ($s*)
}
