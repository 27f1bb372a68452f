// OpenBLAS's CBLAS interface. Debian installs it under a multiarch folder that is not on the
// default include path; the header includes its config with quotes, so a full path suffices.
#include <x86_64-linux-gnu/openblas-pthread/cblas.h>
