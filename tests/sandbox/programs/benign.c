/* Harmless test program: computes a sum and exits. Nothing to report. */
#include <windows.h>

int main(void) {
    volatile int total = 0;
    for (int i = 0; i < 1000; i++) total += i;
    return total == 499500 ? 0 : 1;
}
