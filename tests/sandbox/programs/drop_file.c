/* Harmless test program: writes a small executable-looking file to %TEMP%. No printf (speakeasy). */
#include <windows.h>

int main(void) {
    static const char body[] = "MZ test payload written by the tap365 sandbox test";
    DWORD written = 0;
    HANDLE h = CreateFileA("C:\\Windows\\Temp\\payload.exe", GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return 1;
    WriteFile(h, body, sizeof(body) - 1, &written, NULL);
    CloseHandle(h);
    return 0;
}
