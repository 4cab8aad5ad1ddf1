// glibc allocator tuning (mallopt).
#include <malloc.h>
