/* Harmless test program: adds a value under HKCU\...\CurrentVersion\Run (persistence pattern). */
#include <windows.h>

int main(void) {
    HKEY key;
    static const char cmd[] = "C:\\Windows\\Temp\\payload.exe";
    if (RegCreateKeyExA(HKEY_CURRENT_USER, "Software\\Microsoft\\Windows\\CurrentVersion\\Run", 0, NULL, 0,
                        KEY_WRITE, NULL, &key, NULL) != ERROR_SUCCESS) return 1;
    RegSetValueExA(key, "Updater", 0, REG_SZ, (const BYTE *)cmd, sizeof(cmd));
    RegCloseKey(key);
    return 0;
}
