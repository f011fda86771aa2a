/* Smallest useful PE: returns 42, no C runtime. */
int start(void) { return 42; }
