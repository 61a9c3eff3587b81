/* Harmless test program: calls a C2-style URL with WinINet (c2.test is a reserved name). */
#include <windows.h>
#include <wininet.h>

int main(void) {
    char buf[64];
    DWORD got = 0;
    HINTERNET net = InternetOpenA("tap365-test", INTERNET_OPEN_TYPE_DIRECT, NULL, NULL, 0);
    if (!net) return 1;
    HINTERNET url = InternetOpenUrlA(net, "http://c2.test/beacon", NULL, 0, INTERNET_FLAG_RELOAD, 0);
    if (url) {
        InternetReadFile(url, buf, sizeof(buf), &got);
        InternetCloseHandle(url);
    }
    InternetCloseHandle(net);
    return 0;
}
