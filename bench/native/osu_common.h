/*
 * What the OSU-style programs run under Open MPI share (bench/native/osu_lite.c, osu_coll.c):
 *
 *   process_vm_readv/writev   defined here, counted, forwarded to the kernel: linked with
 *                             -rdynamic, the MPI library's CMA calls resolve to them, so a run
 *                             can show whether single copy really carried its large messages
 *   osu_cma_counting()        whether the dynamic linker does resolve the name to this
 *                             definition (not if the library issues the raw syscall itself)
 *   osu_alloc()               page-aligned (or 2 MiB-aligned MADV_HUGEPAGE) touched buffers
 *   print_cvars()             the effective MPI_T control variables, one JSON line each
 *
 * One translation unit per program includes it (definitions, not just declarations).
 */
#ifndef OSU_COMMON_H
#define OSU_COMMON_H
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define HUGE_SZ (2UL << 20)

/* ------------------------------------------------------------------ CMA call counting */
static volatile long cma_calls = 0, cma_bytes = 0;

ssize_t process_vm_readv(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r, unsigned long rn,
                         unsigned long flags) {
  ssize_t n = syscall(SYS_process_vm_readv, pid, l, ln, r, rn, flags);
  cma_calls++;
  if (n > 0) cma_bytes += n;
  return n;
}

ssize_t process_vm_writev(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r, unsigned long rn,
                          unsigned long flags) {
  ssize_t n = syscall(SYS_process_vm_writev, pid, l, ln, r, rn, flags);
  cma_calls++;
  if (n > 0) cma_bytes += n;
  return n;
}

static int osu_cma_counting(void) { return dlsym(RTLD_DEFAULT, "process_vm_readv") == (void *)process_vm_readv; }

/* ------------------------------------------------------------------ buffers */
/* n bytes, page aligned (2 MiB aligned with MADV_HUGEPAGE if huge), every byte set to fill:
 * untouched receive buffers would fault during the copy. Never freed. */
static void *osu_alloc(size_t n, int huge, int fill) {
  size_t align = huge ? HUGE_SZ : (size_t)sysconf(_SC_PAGESIZE);
  size_t len = (n + align - 1) / align * align;
  if (len == 0) len = align;
  char *raw = mmap(NULL, len + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    perror("mmap");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  char *p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  if (huge && madvise(p, len, MADV_HUGEPAGE) != 0) perror("madvise(MADV_HUGEPAGE)");
  memset(p, fill, len);
  return p;
}

/* ------------------------------------------------------------------ MPI_T control variables */
static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    if ((unsigned char)*s >= 0x20) putchar(*s);
  }
  putchar('"');
}

static void print_cvars(char *list) {
  int provided, num;
  if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return;
  MPI_T_cvar_get_num(&num);
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    int found = 0;
    for (int i = 0; i < num && !found; i++) {
      char nm[256], desc[1024];
      int nlen = sizeof nm, dlen = sizeof desc, verb, bind, scope;
      MPI_Datatype dt;
      MPI_T_enum en;
      if (MPI_T_cvar_get_info(i, nm, &nlen, &verb, &dt, &en, desc, &dlen, &bind, &scope) != MPI_SUCCESS) continue;
      if (strcmp(nm, name) != 0) continue;
      found = 1;
      MPI_T_cvar_handle h;
      int count;
      if (MPI_T_cvar_handle_alloc(i, NULL, &h, &count) != MPI_SUCCESS) break;
      printf("{\"type\":\"cvar\",\"name\":");
      json_str(name);
      printf(",\"value\":");
      if (dt == MPI_CHAR) {
        char *v = calloc(1, (size_t)count + 1);
        MPI_T_cvar_read(h, v);
        json_str(v);
        free(v);
      } else if (dt == MPI_INT) {
        int v = 0;
        MPI_T_cvar_read(h, &v);
        char item[256] = "";
        int ne = 0;
        if (en != MPI_T_ENUM_NULL) {
          char ename[256];
          int elen = sizeof ename;
          MPI_T_enum_get_info(en, &ne, ename, &elen);
          for (int k = 0; k < ne; k++) {
            int val, ilen = sizeof item;
            MPI_T_enum_get_item(en, k, &val, item, &ilen);
            if (val == v) break;
            item[0] = 0;
          }
        }
        if (item[0]) json_str(item);
        else printf("%d", v);
      } else {
        printf("null");
      }
      printf("}\n");
      MPI_T_cvar_handle_free(&h);
    }
    if (!found) {
      printf("{\"type\":\"cvar\",\"name\":");
      json_str(name);
      printf(",\"value\":null}\n");
    }
  }
  MPI_T_finalize();
}
#endif
