/* Harmless test program: spins forever (exercises the CPU-time limit). */
int main(void) {
    volatile unsigned long n = 0;
    for (;;) n++;
    return 0;
}
