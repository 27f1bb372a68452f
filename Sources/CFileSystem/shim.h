#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/syscall.h>

/* renameat2(from, to, RENAME_EXCHANGE): swaps two paths in one step (Linux 3.15+; tmpfs, ext4,
   xfs, btrfs). Swift cannot call it: glibc declares renameat2 only under _GNU_SOURCE, which Swift's
   Glibc module is built without, and syscall() is variadic. -1 with errno ENOSYS where the system
   has no such call, EINVAL where the file system cannot exchange. */
static inline int vs_rename_exchange(const char *from, const char *to) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1u << 1 /* RENAME_EXCHANGE */);
#else
    (void)from; (void)to;
    errno = ENOSYS;
    return -1;
#endif
}
