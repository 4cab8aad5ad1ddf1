#include <systemd/sd-journal.h>
// The journal reader's wake-up doorbell (stop requests interrupt its poll on the journal fd).
#include <sys/eventfd.h>
