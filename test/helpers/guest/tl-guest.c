/*
 * tl-guest: the workload of the Tideline test guest (see README.md next to this file).
 *
 * Runs from the initramfs /init as `tl-guest /dev/vda2`. The partition is the records area:
 * sector 0 config, sector 1 owner, sector 2 boot counter, records of 512 bytes from 4096.
 * Every line it prints starts with "TL-" and is written with one write(2) so that kernel
 * messages on the same serial console do not split it.
 *
 * Built at test time with `gcc -static -O2`; never committed as a binary.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#define SECTOR 512
#define CONFIG_OFFSET 0
#define OWNER_OFFSET 512
#define BOOTS_OFFSET 1024
#define HEADER_BYTES 4096
#define FIRST_RECORD_OFFSET 4096
#define RECORD_SIZE 512
#define CHUNK (1024 * 1024)
#define RECORD_MAGIC "TLREC001"
#define OWNER_MAGIC "TLOWNER1 "
#define BOOTS_MAGIC "TLBOOTS1 "
#define CONFIG_MAGIC "TLCONF1"

struct config {
  char mode[32];
  long records, rate, reboot_at, seconds, mib, delay;
};

static int fd = -1;
static uint64_t area_bytes;
static uint64_t capacity; /* records that fit in the area */
static unsigned char *buf; /* CHUNK bytes, 4096-aligned for O_DIRECT */
static uint32_t crc_table[256];

static void say(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  ssize_t ignored = write(1, line, n);
  (void)ignored;
}

static _Noreturn void idle(void) {
  for (;;) pause();
}

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* CRC-32 (IEEE, as zlib.crc32) */
static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = v >> (8 * i);
}

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = v >> (8 * i);
}

static uint32_t get32(const unsigned char *p) {
  return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Record: magic[8] index u32 uuid[16] epoch_ms u64 boot u32 fill[468] crc32 u32 */
static void build_record(unsigned char *r, uint32_t index, const unsigned char uuid[16],
                         uint32_t boot) {
  memcpy(r, RECORD_MAGIC, 8);
  put32(r + 8, index);
  memcpy(r + 12, uuid, 16);
  put64(r + 28, epoch_ms());
  put32(r + 36, boot);
  uint32_t x = index ^ 0x9E3779B9u;
  for (int off = 40; off < RECORD_SIZE - 4; off += 4) {
    x = x * 1664525u + 1013904223u;
    put32(r + off, x);
  }
  put32(r + RECORD_SIZE - 4, crc32(r, RECORD_SIZE - 4));
}

static int record_valid(const unsigned char *r, uint32_t index, const unsigned char uuid[16]) {
  return memcmp(r, RECORD_MAGIC, 8) == 0 && get32(r + 8) == index &&
         memcmp(r + 12, uuid, 16) == 0 &&
         get32(r + RECORD_SIZE - 4) == crc32(r, RECORD_SIZE - 4);
}

static int parse_uuid(const char *s, unsigned char out[16]) {
  int n = 0;
  for (; *s && n < 32; s++) {
    if (*s == '-') continue;
    if (!isxdigit((unsigned char)*s)) return -1;
    int v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
    if (n % 2 == 0) out[n / 2] = v << 4;
    else out[n / 2] |= v;
    n++;
  }
  return n == 32 ? 0 : -1;
}

static void read_uuid(char out[37]) {
  strcpy(out, "00000000-0000-0000-0000-000000000000");
  FILE *f = fopen("/sys/class/dmi/id/product_uuid", "r");
  if (!f) {
    say("TL-ERROR no-product-uuid errno=%d", errno);
    return;
  }
  char line[64] = "";
  if (fgets(line, sizeof line, f) && strlen(line) >= 36) {
    for (int i = 0; i < 36; i++) out[i] = tolower((unsigned char)line[i]);
    out[36] = 0;
  }
  fclose(f);
}

static long conf_value(const char *text, const char *key, long fallback) {
  char pat[40];
  snprintf(pat, sizeof pat, " %s=", key);
  const char *p = strstr(text, pat);
  return p ? strtol(p + strlen(pat), NULL, 10) : fallback;
}

static void parse_config(const unsigned char *sector, struct config *c) {
  char text[SECTOR + 1];
  memcpy(text, sector, SECTOR);
  text[SECTOR] = 0;
  char *nl = strchr(text, '\n');
  if (nl) *nl = 0;
  strcpy(c->mode, "records");
  c->records = 1000;
  c->rate = 0;
  c->reboot_at = 0;
  c->seconds = 10;
  c->mib = 64;
  c->delay = 0;
  if (strncmp(text, CONFIG_MAGIC " ", strlen(CONFIG_MAGIC) + 1) != 0) {
    say("TL-CONFIG missing (defaults)");
    return;
  }
  const char *m = strstr(text, " mode=");
  if (m) sscanf(m + 6, "%31[a-z-]", c->mode);
  c->records = conf_value(text, "records", c->records);
  c->rate = conf_value(text, "rate", c->rate);
  c->reboot_at = conf_value(text, "reboot_at", c->reboot_at);
  c->seconds = conf_value(text, "seconds", c->seconds);
  c->mib = conf_value(text, "mib", c->mib);
  c->delay = conf_value(text, "delay", c->delay);
}

/* Reads `len` bytes (a multiple of 512, at most CHUNK) at `off` into buf; retries on errors. */
static void read_at(uint64_t off, size_t len) {
  for (;;) {
    ssize_t n = pread(fd, buf, len, off);
    if (n == (ssize_t)len) return;
    say("TL-IO-ERROR op=read rec=-1 errno=%d off=%llu", n < 0 ? errno : EIO, (unsigned long long)off);
    sleep_ms(100);
  }
}

/* One durable write: pwrite then fdatasync, retried every 100 ms until both succeed. */
static void write_durable(const void *data, size_t len, uint64_t off, long rec) {
  for (;;) {
    ssize_t n = pwrite(fd, data, len, off);
    if (n != (ssize_t)len) {
      say("TL-IO-ERROR op=write rec=%ld errno=%d", rec, n < 0 ? errno : EIO);
    } else if (fdatasync(fd) != 0) {
      say("TL-IO-ERROR op=sync rec=%ld errno=%d", rec, errno);
    } else {
      return;
    }
    sleep_ms(100);
  }
}

/* The first index in [0, limit) without a valid record of `uuid`. */
static uint64_t first_invalid(const unsigned char uuid[16], uint64_t limit) {
  const uint64_t per_chunk = CHUNK / RECORD_SIZE;
  for (uint64_t base = 0; base < limit; base += per_chunk) {
    uint64_t n = limit - base < per_chunk ? limit - base : per_chunk;
    read_at(FIRST_RECORD_OFFSET + base * RECORD_SIZE, n * RECORD_SIZE);
    for (uint64_t i = 0; i < n; i++)
      if (!record_valid(buf + i * RECORD_SIZE, base + i, uuid)) return base + i;
  }
  return limit;
}

/* Whether any valid record of `uuid` exists in [from, limit). */
static int any_valid(const unsigned char uuid[16], uint64_t from, uint64_t limit) {
  const uint64_t per_chunk = CHUNK / RECORD_SIZE;
  for (uint64_t base = from; base < limit; base += per_chunk) {
    uint64_t n = limit - base < per_chunk ? limit - base : per_chunk;
    read_at(FIRST_RECORD_OFFSET + base * RECORD_SIZE, n * RECORD_SIZE);
    for (uint64_t i = 0; i < n; i++)
      if (record_valid(buf + i * RECORD_SIZE, base + i, uuid)) return 1;
  }
  return 0;
}

static void writer(const struct config *c, const unsigned char uuid[16], uint32_t boot) {
  uint64_t total = (uint64_t)c->records;
  if (total > capacity) {
    say("TL-ERROR records=%ld exceeds capacity=%llu", c->records, (unsigned long long)capacity);
    idle();
  }
  uint64_t resume = first_invalid(uuid, total);
  say("TL-WRITER resume=%llu", (unsigned long long)resume);
  unsigned char *rec = buf; /* aligned; the scan above no longer needs it */
  double t0 = now_mono();
  for (uint64_t i = resume; i < total; i++) {
    if (c->reboot_at > 0 && i == (uint64_t)c->reboot_at && resume < i) {
      say("TL-REBOOT at=%ld", c->reboot_at);
      sync();
      reboot(RB_AUTOBOOT);
      say("TL-ERROR reboot errno=%d", errno);
      idle();
    }
    if (c->rate > 0) {
      double due = t0 + (double)(i - resume) / c->rate;
      struct timespec ts = {(time_t)due, (long)((due - (time_t)due) * 1e9)};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
      }
    }
    build_record(rec, (uint32_t)i, uuid, boot);
    write_durable(rec, RECORD_SIZE, FIRST_RECORD_OFFSET + i * RECORD_SIZE, (long)i);
    if ((i + 1) % 100 == 0) say("TL-REC %llu", (unsigned long long)(i + 1));
  }
  double took = now_mono() - t0;
  say("TL-DONE records=%llu seconds=%.3f", (unsigned long long)total, took);
}

static void verifier(const struct config *c, const char *owner) {
  unsigned char uuid[16];
  if (parse_uuid(owner, uuid) != 0) {
    say("TL-ERROR bad-owner=%s", owner);
    idle();
  }
  /* Twice the configured count (at least 4096 records) bounds the scan: a whole 256 MiB
   * area would take long under TCG, and the writer never goes past `records`. */
  uint64_t limit = (uint64_t)(c->records > 2048 ? 2 * c->records : 4096);
  if (limit > capacity) limit = capacity;
  uint64_t count = first_invalid(uuid, limit);
  int gapfree = count >= limit || !any_valid(uuid, count + 1, limit);
  say("TL-VERIFY records=%llu gapfree=%d owner=%s scanned=%llu", (unsigned long long)count,
      gapfree, owner, (unsigned long long)limit);
}

static void bench_flush(const struct config *c) {
  uint64_t slots = (area_bytes - FIRST_RECORD_OFFSET) / 4096;
  memset(buf, 0xA5, 4096);
  uint64_t ops = 0;
  double t0 = now_mono(), end = t0 + c->seconds, t;
  while ((t = now_mono()) < end) {
    write_durable(buf, 4096, FIRST_RECORD_OFFSET + (ops % slots) * 4096, -1);
    ops++;
  }
  double took = now_mono() - t0;
  say("TL-BENCH flush ops=%llu seconds=%.3f rate=%.1f", (unsigned long long)ops, took,
      ops / took);
}

static void bench_seq(const struct config *c) {
  uint64_t mib = (uint64_t)c->mib, fits = (area_bytes - FIRST_RECORD_OFFSET) / CHUNK;
  if (mib > fits) mib = fits;
  memset(buf, 0x5A, CHUNK);
  double t0 = now_mono();
  for (uint64_t i = 0; i < mib; i++) {
    for (;;) {
      ssize_t n = pwrite(fd, buf, CHUNK, FIRST_RECORD_OFFSET + i * CHUNK);
      if (n == CHUNK) break;
      say("TL-IO-ERROR op=write rec=-1 errno=%d", n < 0 ? errno : EIO);
      sleep_ms(100);
    }
  }
  while (fdatasync(fd) != 0) {
    say("TL-IO-ERROR op=sync rec=-1 errno=%d", errno);
    sleep_ms(100);
  }
  double took = now_mono() - t0;
  say("TL-BENCH seq mib=%llu seconds=%.3f mibps=%.2f", (unsigned long long)mib, took,
      mib / took);
}

int main(int argc, char **argv) {
  const char *dev = argc > 1 ? argv[1] : "/dev/vda2";
  crc_init();
  char me[37];
  read_uuid(me);
  unsigned char my_uuid[16];
  if (parse_uuid(me, my_uuid) != 0) memset(my_uuid, 0, sizeof my_uuid);

  fd = open(dev, O_RDWR | O_DIRECT);
  if (fd < 0 || ioctl(fd, BLKGETSIZE64, &area_bytes) != 0 ||
      posix_memalign((void **)&buf, 4096, CHUNK) != 0) {
    say("TL-BOOT uuid=%s boot=0", me);
    say("TL-ERROR open=%s errno=%d", dev, errno);
    idle();
  }
  capacity = area_bytes > FIRST_RECORD_OFFSET ? (area_bytes - FIRST_RECORD_OFFSET) / RECORD_SIZE : 0;

  read_at(0, HEADER_BYTES);
  unsigned char header[HEADER_BYTES];
  memcpy(header, buf, HEADER_BYTES);
  struct config c;
  parse_config(header + CONFIG_OFFSET, &c);

  long boots = 0;
  if (memcmp(header + BOOTS_OFFSET, BOOTS_MAGIC, strlen(BOOTS_MAGIC)) == 0)
    boots = strtol((char *)header + BOOTS_OFFSET + strlen(BOOTS_MAGIC), NULL, 10);
  uint32_t boot = (uint32_t)boots + 1;
  say("TL-BOOT uuid=%s boot=%u", me, boot);

  if (strcmp(c.mode, "bench") == 0) {
    /* Both benchmarks, after `delay` seconds (time for the host to protect the disk). */
    sleep_ms(c.delay * 1000);
    say("TL-BENCH-START");
    bench_flush(&c);
    bench_seq(&c);
    idle();
  }
  if (strcmp(c.mode, "bench-flush") == 0 || strcmp(c.mode, "bench-seq") == 0) {
    if (c.mode[6] == 'f') bench_flush(&c);
    else bench_seq(&c);
    idle();
  }
  if (strcmp(c.mode, "records") != 0) {
    say("TL-ERROR mode=%s", c.mode);
    idle();
  }

  char owner[37] = "";
  if (memcmp(header + OWNER_OFFSET, OWNER_MAGIC, strlen(OWNER_MAGIC)) == 0) {
    memcpy(owner, header + OWNER_OFFSET + strlen(OWNER_MAGIC), 36);
    owner[36] = 0;
  }
  if (owner[0] != 0 && strcmp(owner, me) != 0) {
    /* Another domain wrote this disk: this is a recovered copy. It stays read-only, so the
     * copy keeps matching the replica it came from. */
    verifier(&c, owner);
    idle();
  }
  /* The writer claims the disk (first boot) and counts its boot, in one durable write. */
  memset(header + OWNER_OFFSET, 0, SECTOR);
  snprintf((char *)header + OWNER_OFFSET, SECTOR, OWNER_MAGIC "%s\n", me);
  memset(header + BOOTS_OFFSET, 0, SECTOR);
  snprintf((char *)header + BOOTS_OFFSET, SECTOR, BOOTS_MAGIC "%u\n", boot);
  memcpy(buf, header, HEADER_BYTES);
  write_durable(buf, HEADER_BYTES, 0, -1);
  writer(&c, my_uuid, boot);
  idle();
}
