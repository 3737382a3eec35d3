/*
 * fake_amdsmi.c -- a scripted stand-in for ROCm's libamd_smi.so, for tests only.
 *
 * Built at test time by tests/support/fakeamdsmi.py together with two generated files:
 *   fake_amdsmi_abi.h   the status codes and the packed structs this file fills, generated from the ctypes
 *                       declarations of the INSTALLED amdsmi package (amdsmi_wrapper.py), so the layout is the
 *                       one the real Python binding reads;
 *   fake_amdsmi_stubs.c a weak definition, returning AMDSMI_STATUS_NOT_SUPPORTED, of every other symbol the
 *                       binding looks up when it is imported (it binds about 180 functions at import time).
 * The real `amdsmi` package then loads this library through its own search (ROCM_HOME / ROCM_PATH / the
 * linker path) and talks to it exactly as to ROCm's.
 *
 * Behaviour comes from the text file named by $FAKE_AMDSMI_CONFIG, re-read at every amdsmi_init.  All state is
 * derived from that file and CLOCK_MONOTONIC (Python's time.monotonic() on Linux), so re-reading changes nothing.
 *
 * Config (one directive per line, '#' comments; times are seconds relative to `t0`):
 *
 *   t0 <monotonic seconds>
 *   init_error <amdsmi_status_t>          every amdsmi_init fails with this code
 *   driver_version <string>
 *   gpu                                   starts a new GPU (a processor handle in its own socket)
 *   name <market name>                    rest of line
 *   uuid <amdsmi uuid>
 *   hip_uuid <GPU-...>
 *   serial <hex>                          asic serial
 *   bdf <dddd:bb:dd.f>
 *   oam_id <n>                            dies of one package share it (MI250: two GCDs per OAM); -1: N/A
 *   hip_id <n>                            HIP / ROCr enumeration index
 *   partition_id <n>                      kfd current_partition_id
 *   power_cap_w <W>
 *   counter <0|1>                         0: amdsmi_get_energy_count -> NOT_SUPPORTED
 *   counter_bits <n>                      the accumulator wraps at 2^n units (64: never in practice)
 *   resolution_uj <float>                 counter_resolution (microjoules per unit)
 *   energy_offset_uj <float>              counter value at t0, in microjoules
 *   current <0|1>                         0: current_socket_power is N/A (0xFFFF)
 *   average <0|1>                         0: average_socket_power is N/A (0xFFFF)
 *   secondary <0|1>                       1: a package's second die: power 0 W, counter stays at 0
 *   lost_after <s>                        from then on every call on the device -> lost_status
 *   lost_status <amdsmi_status_t>         default AMDSMI_STATUS_FILE_ERROR
 *   counter_reset_at <s>                  the counter restarts from 0 then (driver reload)
 *   counter_unsupported_after <s>         the counter answers NOT_SUPPORTED from then on
 *   counter_frozen_after <s>              the counter stops moving then (older ROCm served a frozen value)
 *   glitch <start> <end> <W>              power reads W (e.g. megawatts) during [start, end)
 *   counter_glitch <start> <end> <J>      the counter reads J too high during [start, end) (then recovers)
 *   term const  <start> <end> <W>
 *   term ramp   <start> <end> <W at anchor> <slope W/s>      anchor = start, or 0 if start is -inf
 *   term square <start> <end> <low W> <high W> <period s> <duty 0..1> <phase s>
 *
 * P(tau) is the sum of the terms whose window [start, end) contains tau.  The counter is the exact integral of P
 * since t0 (or since the reset) plus the offset, floored to whole resolution units, modulo 2^counter_bits.
 * current_socket_power is round(P(now)) W; average_socket_power is round(mean of P over the trailing second) W;
 * socket_power is the current value when supported, else the average.  tests/support/fakeamdsmi.py mirrors
 * this arithmetic in Python.
 */
#define _POSIX_C_SOURCE 200809L
#include "fake_amdsmi_abi.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_GPUS 64
#define MAX_TERMS 32
#define NA16 0xFFFFu

enum term_kind { TERM_CONST, TERM_RAMP, TERM_SQUARE };

typedef struct {
    enum term_kind kind;
    double start, end;
    double a, b, period, duty, phase;
} term_t;

typedef struct {
    char name[256];
    char uuid[64];
    char hip_uuid[64];
    char serial[64];
    unsigned domain, bus, dev, fn;
    long long oam_id;
    unsigned hip_id, partition_id;
    double power_cap_w;
    int counter, counter_bits, current, average, secondary;
    float resolution_uj;
    double energy_offset_uj;
    double lost_after, counter_reset_at, counter_unsupported_after, counter_frozen_after;
    int lost_status;
    double glitch_start, glitch_end, glitch_w;
    double cglitch_start, cglitch_end, cglitch_j;
    int n_terms;
    term_t terms[MAX_TERMS];
} fake_gpu_t;

/* Handles point into static arrays, so a handle taken before a re-init stays valid memory. */
typedef struct { int kind; int index; } handle_t; /* kind 1: socket, 2: processor */

static fake_gpu_t g_gpus[MAX_GPUS];
static handle_t g_sockets[MAX_GPUS];
static handle_t g_processors[MAX_GPUS];
static int g_count = 0;
static int g_refcount = 0;
static double g_t0 = 0.0;
static char g_driver_version[256] = "6.10.5";

/* ------------------------------------------------------------------------------------------------ time */

static double now_tau(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - g_t0;
}

/* ------------------------------------------------------------------------------------------------ trace */

static double term_anchor(const term_t *t) { return isfinite(t->start) ? t->start : 0.0; }

static double term_value(const term_t *t, double x)
{
    if (!(x >= t->start && x < t->end)) return 0.0;
    switch (t->kind) {
    case TERM_CONST: return t->a;
    case TERM_RAMP: return t->a + t->b * (x - term_anchor(t));
    case TERM_SQUARE: {
        double u = x - t->phase;
        double f = u - floor(u / t->period) * t->period;
        return f < t->duty * t->period ? t->b : t->a;
    }
    }
    return 0.0;
}

static double term_antiderivative(const term_t *t, double x)
{
    switch (t->kind) {
    case TERM_CONST: return t->a * x;
    case TERM_RAMP: {
        double d = x - term_anchor(t);
        return t->a * d + 0.5 * t->b * d * d;
    }
    case TERM_SQUARE: {
        double u = x - t->phase;
        double n = floor(u / t->period);
        double f = u - n * t->period;
        double hi = t->duty * t->period;
        double per_cycle = t->b * hi + t->a * (t->period - hi);
        double part = f < hi ? t->b * f : t->b * hi + t->a * (f - hi);
        return n * per_cycle + part;
    }
    }
    return 0.0;
}

static double trace_integral(const fake_gpu_t *g, double x1, double x2)
{
    double total = 0.0;
    for (int i = 0; i < g->n_terms; i++) {
        const term_t *t = &g->terms[i];
        double lo = x1 > t->start ? x1 : t->start;
        double hi = x2 < t->end ? x2 : t->end;
        if (hi > lo) total += term_antiderivative(t, hi) - term_antiderivative(t, lo);
    }
    return total;
}

static double trace_value(const fake_gpu_t *g, double x)
{
    double total = 0.0;
    for (int i = 0; i < g->n_terms; i++) total += term_value(&g->terms[i], x);
    return total;
}

/* ------------------------------------------------------------------------------------------------ config */

static void gpu_defaults(fake_gpu_t *g, int index)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->name, sizeof(g->name), "AMD Instinct MI300X");
    snprintf(g->uuid, sizeof(g->uuid), "%08x-0000-1000-8000-%012x", 0xa3d00000u + (unsigned)index, (unsigned)index);
    snprintf(g->hip_uuid, sizeof(g->hip_uuid), "GPU-%016llx", 0x5a3d000000000000ULL + (unsigned long long)index);
    snprintf(g->serial, sizeof(g->serial), "%016llx", 0x5a3d000000000000ULL + (unsigned long long)index);
    g->domain = 0;
    g->bus = 0x10u + (unsigned)index;
    g->oam_id = index;
    g->hip_id = (unsigned)index;
    g->power_cap_w = 750.0;
    g->counter = 1;
    g->counter_bits = 64;
    g->current = 1;
    g->average = 1;
    g->resolution_uj = 15.259f;
    g->lost_after = INFINITY;
    g->lost_status = AMDSMI_STATUS_FILE_ERROR;
    g->counter_reset_at = INFINITY;
    g->counter_unsupported_after = INFINITY;
    g->counter_frozen_after = INFINITY;
    g->glitch_start = g->glitch_end = INFINITY;
    g->cglitch_start = g->cglitch_end = INFINITY;
}

static void copy_rest(char *dst, size_t n, const char *src)
{
    while (*src == ' ' || *src == '\t') src++;
    snprintf(dst, n, "%s", src);
    size_t len = strlen(dst);
    while (len > 0 && (dst[len - 1] == '\n' || dst[len - 1] == '\r' || dst[len - 1] == ' ')) dst[--len] = '\0';
}

static amdsmi_status_t config_error(const char *path, int line, const char *what)
{
    fprintf(stderr, "fake_amdsmi: %s:%d: %s\n", path, line, what);
    return AMDSMI_STATUS_INIT_ERROR;
}

static amdsmi_status_t load_config(void)
{
    const char *path = getenv("FAKE_AMDSMI_CONFIG");
    if (path == NULL || *path == '\0') return AMDSMI_STATUS_DRIVER_NOT_LOADED;
    FILE *fp = fopen(path, "r");
    if (fp == NULL) return AMDSMI_STATUS_DRIVER_NOT_LOADED;

    int count = 0, lineno = 0, init_error = 0;
    double t0 = 0.0;
    char line[1024];
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = AMDSMI_STATUS_SUCCESS;

    while (fgets(line, sizeof(line), fp) != NULL) {
        lineno++;
        char key[64] = "";
        int used = 0;
        if (sscanf(line, " %63s%n", key, &used) != 1 || key[0] == '#') continue;
        const char *rest = line + used;

        if (strcmp(key, "t0") == 0) { t0 = strtod(rest, NULL); continue; }
        if (strcmp(key, "init_error") == 0) { init_error = atoi(rest); continue; }
        if (strcmp(key, "driver_version") == 0) { copy_rest(g_driver_version, sizeof(g_driver_version), rest); continue; }
        if (strcmp(key, "gpu") == 0) {
            if (count >= MAX_GPUS) { rc = config_error(path, lineno, "too many gpus"); break; }
            g = &g_gpus[count];
            gpu_defaults(g, count);
            count++;
            continue;
        }
        if (g == NULL) { rc = config_error(path, lineno, "directive before the first 'gpu'"); break; }
        if (strcmp(key, "name") == 0) copy_rest(g->name, sizeof(g->name), rest);
        else if (strcmp(key, "uuid") == 0) copy_rest(g->uuid, sizeof(g->uuid), rest);
        else if (strcmp(key, "hip_uuid") == 0) copy_rest(g->hip_uuid, sizeof(g->hip_uuid), rest);
        else if (strcmp(key, "serial") == 0) copy_rest(g->serial, sizeof(g->serial), rest);
        else if (strcmp(key, "bdf") == 0) {
            if (sscanf(rest, " %x:%x:%x.%x", &g->domain, &g->bus, &g->dev, &g->fn) != 4) {
                rc = config_error(path, lineno, "bad bdf");
                break;
            }
        } else if (strcmp(key, "oam_id") == 0) g->oam_id = strtoll(rest, NULL, 10);
        else if (strcmp(key, "hip_id") == 0) g->hip_id = (unsigned)strtoul(rest, NULL, 10);
        else if (strcmp(key, "partition_id") == 0) g->partition_id = (unsigned)strtoul(rest, NULL, 10);
        else if (strcmp(key, "power_cap_w") == 0) g->power_cap_w = strtod(rest, NULL);
        else if (strcmp(key, "counter") == 0) g->counter = atoi(rest);
        else if (strcmp(key, "counter_bits") == 0) g->counter_bits = atoi(rest);
        else if (strcmp(key, "resolution_uj") == 0) g->resolution_uj = strtof(rest, NULL);
        else if (strcmp(key, "energy_offset_uj") == 0) g->energy_offset_uj = strtod(rest, NULL);
        else if (strcmp(key, "current") == 0) g->current = atoi(rest);
        else if (strcmp(key, "average") == 0) g->average = atoi(rest);
        else if (strcmp(key, "secondary") == 0) g->secondary = atoi(rest);
        else if (strcmp(key, "lost_after") == 0) g->lost_after = strtod(rest, NULL);
        else if (strcmp(key, "lost_status") == 0) g->lost_status = atoi(rest);
        else if (strcmp(key, "counter_reset_at") == 0) g->counter_reset_at = strtod(rest, NULL);
        else if (strcmp(key, "counter_unsupported_after") == 0) g->counter_unsupported_after = strtod(rest, NULL);
        else if (strcmp(key, "counter_frozen_after") == 0) g->counter_frozen_after = strtod(rest, NULL);
        else if (strcmp(key, "glitch") == 0) {
            if (sscanf(rest, " %lf %lf %lf", &g->glitch_start, &g->glitch_end, &g->glitch_w) != 3) {
                rc = config_error(path, lineno, "bad glitch");
                break;
            }
        } else if (strcmp(key, "counter_glitch") == 0) {
            if (sscanf(rest, " %lf %lf %lf", &g->cglitch_start, &g->cglitch_end, &g->cglitch_j) != 3) {
                rc = config_error(path, lineno, "bad counter_glitch");
                break;
            }
        } else if (strcmp(key, "term") == 0) {
            if (g->n_terms >= MAX_TERMS) { rc = config_error(path, lineno, "too many terms"); break; }
            term_t *t = &g->terms[g->n_terms];
            char kind[16] = "", s_start[32] = "", s_end[32] = "";
            double p[5] = {0, 0, 0, 0, 0};
            int n = sscanf(rest, " %15s %31s %31s %lf %lf %lf %lf %lf", kind, s_start, s_end, &p[0], &p[1], &p[2],
                           &p[3], &p[4]);
            t->start = strtod(s_start, NULL);
            t->end = strtod(s_end, NULL);
            t->a = p[0];
            t->b = p[1];
            if (strcmp(kind, "const") == 0 && n == 4) t->kind = TERM_CONST;
            else if (strcmp(kind, "ramp") == 0 && n == 5) t->kind = TERM_RAMP;
            else if (strcmp(kind, "square") == 0 && n == 8 && p[2] > 0.0) {
                t->kind = TERM_SQUARE;
                t->period = p[2];
                t->duty = p[3];
                t->phase = p[4];
            } else { rc = config_error(path, lineno, "bad term"); break; }
            g->n_terms++;
        } else { rc = config_error(path, lineno, "unknown directive"); break; }
    }
    fclose(fp);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (init_error != 0) return (amdsmi_status_t)init_error;

    g_t0 = t0;
    g_count = count;
    for (int i = 0; i < MAX_GPUS; i++) {
        g_sockets[i].kind = 1;
        g_sockets[i].index = i;
        g_processors[i].kind = 2;
        g_processors[i].index = i;
    }
    return AMDSMI_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ helpers */

static int socket_index(const void *h)
{
    const handle_t *p = (const handle_t *)h;
    if (p < &g_sockets[0] || p >= &g_sockets[MAX_GPUS]) return -1;
    return p->index < g_count ? p->index : -1;
}

/* Common entry check for device calls: initialised, valid handle, not fallen off the bus. */
static amdsmi_status_t check(const void *h, fake_gpu_t **out)
{
    if (g_refcount <= 0) return AMDSMI_STATUS_NOT_INIT;
    const handle_t *p = (const handle_t *)h;
    if (p == NULL || p < &g_processors[0] || p >= &g_processors[MAX_GPUS] || p->index >= g_count)
        return AMDSMI_STATUS_INVAL;
    fake_gpu_t *g = &g_gpus[p->index];
    *out = g;
    if (now_tau() >= g->lost_after && g->lost_status != 0) return (amdsmi_status_t)g->lost_status;
    return AMDSMI_STATUS_SUCCESS;
}

static uint32_t watts_field(double w)
{
    if (w < 0.0) w = 0.0;
    double r = floor(w + 0.5);
    return r > 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)r;
}

/* ------------------------------------------------------------------------------------------------ init */

amdsmi_status_t amdsmi_init(uint64_t flags)
{
    (void)flags;
    amdsmi_status_t rc = load_config();
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    g_refcount++;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_shut_down(void)
{
    if (g_refcount <= 0) return AMDSMI_STATUS_NOT_INIT;
    g_refcount--;
    return AMDSMI_STATUS_SUCCESS;
}

/* Not part of amdsmi: the size of one ABI struct as compiled here, for the layout test. */
size_t fake_amdsmi_sizeof(const char *name)
{
    if (strcmp(name, "amdsmi_power_info_t") == 0) return sizeof(amdsmi_power_info_t);
    if (strcmp(name, "amdsmi_asic_info_t") == 0) return sizeof(amdsmi_asic_info_t);
    if (strcmp(name, "amdsmi_board_info_t") == 0) return sizeof(amdsmi_board_info_t);
    if (strcmp(name, "amdsmi_power_cap_info_t") == 0) return sizeof(amdsmi_power_cap_info_t);
    if (strcmp(name, "amdsmi_enumeration_info_t") == 0) return sizeof(amdsmi_enumeration_info_t);
    if (strcmp(name, "amdsmi_kfd_info_t") == 0) return sizeof(amdsmi_kfd_info_t);
    if (strcmp(name, "amdsmi_driver_info_t") == 0) return sizeof(amdsmi_driver_info_t);
    if (strcmp(name, "amdsmi_vram_usage_t") == 0) return sizeof(amdsmi_vram_usage_t);
    if (strcmp(name, "amdsmi_engine_usage_t") == 0) return sizeof(amdsmi_engine_usage_t);
    return 0;
}

/* ------------------------------------------------------------------------------------------------ discovery */

amdsmi_status_t amdsmi_get_socket_handles(uint32_t *socket_count, void **socket_handles)
{
    if (g_refcount <= 0) return AMDSMI_STATUS_NOT_INIT;
    if (socket_count == NULL) return AMDSMI_STATUS_INVAL;
    if (socket_handles == NULL) {
        *socket_count = (uint32_t)g_count;
        return AMDSMI_STATUS_SUCCESS;
    }
    uint32_t n = *socket_count < (uint32_t)g_count ? *socket_count : (uint32_t)g_count;
    for (uint32_t i = 0; i < n; i++) socket_handles[i] = &g_sockets[i];
    *socket_count = n;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_socket_info(void *socket_handle, size_t len, char *name)
{
    if (g_refcount <= 0) return AMDSMI_STATUS_NOT_INIT;
    int i = socket_index(socket_handle);
    if (i < 0 || name == NULL || len == 0) return AMDSMI_STATUS_INVAL;
    fake_gpu_t *g = &g_gpus[i];
    snprintf(name, len, "%04x:%02x:%02x.%x", g->domain, g->bus, g->dev, g->fn);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_processor_handles(void *socket_handle, uint32_t *processor_count, void **processor_handles)
{
    if (g_refcount <= 0) return AMDSMI_STATUS_NOT_INIT;
    int i = socket_index(socket_handle);
    if (i < 0 || processor_count == NULL) return AMDSMI_STATUS_INVAL;
    if (processor_handles == NULL) {
        *processor_count = 1;
        return AMDSMI_STATUS_SUCCESS;
    }
    if (*processor_count < 1) return AMDSMI_STATUS_INSUFFICIENT_SIZE;
    processor_handles[0] = &g_processors[i];
    *processor_count = 1;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_processor_type(void *processor_handle, uint32_t *processor_type)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (processor_type == NULL) return AMDSMI_STATUS_INVAL;
    *processor_type = AMDSMI_PROCESSOR_TYPE_AMD_GPU;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_device_bdf(void *processor_handle, uint64_t *bdf)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (bdf == NULL) return AMDSMI_STATUS_INVAL;
    /* amdsmi_bdf_t: function 3 bits, device 5, bus 8, domain 48, from the least significant bit up */
    *bdf = ((uint64_t)(g->fn & 0x7u)) | ((uint64_t)(g->dev & 0x1fu) << 3) | ((uint64_t)(g->bus & 0xffu) << 8) |
           ((uint64_t)g->domain << 16);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_device_uuid(void *processor_handle, uint32_t *uuid_length, char *uuid)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (uuid_length == NULL || uuid == NULL) return AMDSMI_STATUS_INVAL;
    size_t need = strlen(g->uuid) + 1;
    if (*uuid_length < need) return AMDSMI_STATUS_INSUFFICIENT_SIZE;
    memcpy(uuid, g->uuid, need);
    *uuid_length = (uint32_t)need;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_enumeration_info(void *processor_handle, amdsmi_enumeration_info_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    int index = (int)(((const handle_t *)processor_handle)->index);
    info->drm_render = 128u + (uint32_t)index;
    info->drm_card = 1u + (uint32_t)index;
    info->hsa_id = 2u + (uint32_t)index;
    info->hip_id = g->hip_id;
    snprintf(info->hip_uuid, sizeof(info->hip_uuid), "%s", g->hip_uuid);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_asic_info(void *processor_handle, amdsmi_asic_info_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    snprintf(info->market_name, sizeof(info->market_name), "%s", g->name);
    info->vendor_id = 0x1002;
    snprintf(info->vendor_name, sizeof(info->vendor_name), "Advanced Micro Devices Inc. [AMD/ATI]");
    info->subvendor_id = 0x1002;
    info->device_id = 0x74a1;
    info->rev_id = 0;
    snprintf(info->asic_serial, sizeof(info->asic_serial), "%s", g->serial);
    info->oam_id = g->oam_id < 0 ? 0xFFFFFFFFu : (uint32_t)g->oam_id;
    info->num_of_compute_units = 304;
    info->target_graphics_version = 0x942;
    info->subsystem_id = 0x74a1;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_board_info(void *processor_handle, amdsmi_board_info_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    snprintf(info->product_name, sizeof(info->product_name), "%s", g->name);
    snprintf(info->product_serial, sizeof(info->product_serial), "%s", g->serial);
    snprintf(info->manufacturer_name, sizeof(info->manufacturer_name), "AMD");
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_kfd_info(void *processor_handle, amdsmi_kfd_info_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    int index = ((const handle_t *)processor_handle)->index;
    info->kfd_id = 0x1000u + (uint64_t)index;
    info->node_id = 2u + (uint32_t)index;
    info->current_partition_id = g->partition_id;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_driver_info(void *processor_handle, amdsmi_driver_info_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    snprintf(info->driver_name, sizeof(info->driver_name), "amdgpu");
    snprintf(info->driver_version, sizeof(info->driver_version), "%s", g_driver_version);
    snprintf(info->driver_date, sizeof(info->driver_date), "2015/01/01 00:00");
    return AMDSMI_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ power */

amdsmi_status_t amdsmi_get_power_cap_info(void *processor_handle, uint32_t sensor_ind, amdsmi_power_cap_info_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL || sensor_ind != 0) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    uint64_t cap_uw = (uint64_t)floor(g->power_cap_w * 1e6 + 0.5);
    info->power_cap = cap_uw;
    info->default_power_cap = cap_uw;
    info->dpm_cap = 2100;
    info->min_power_cap = cap_uw / 4;
    info->max_power_cap = cap_uw;
    return AMDSMI_STATUS_SUCCESS;
}

static int in_window(double tau, double start, double end) { return tau >= start && tau < end; }

amdsmi_status_t amdsmi_get_power_info(void *processor_handle, amdsmi_power_info_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    double tau = now_tau();
    double now_w = trace_value(g, tau);
    double mean_w = trace_integral(g, tau - 1.0, tau);
    if (g->secondary) now_w = mean_w = 0.0;
    if (in_window(tau, g->glitch_start, g->glitch_end)) now_w = mean_w = g->glitch_w;
    info->current_socket_power = g->current ? watts_field(now_w) : NA16;
    info->average_socket_power = g->average ? watts_field(mean_w) : NA16;
    info->socket_power = g->current ? watts_field(now_w) : g->average ? watts_field(mean_w) : NA16;
    info->gfx_voltage = 800;
    info->soc_voltage = 900;
    info->mem_voltage = 1100;
    info->power_limit = watts_field(g->power_cap_w);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_energy_count(void *processor_handle, uint64_t *energy_accumulator, float *counter_resolution,
                                        uint64_t *timestamp)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    double tau = now_tau();
    if (!g->counter || tau >= g->counter_unsupported_after) return AMDSMI_STATUS_NOT_SUPPORTED;
    if (energy_accumulator == NULL || counter_resolution == NULL || timestamp == NULL) return AMDSMI_STATUS_INVAL;
    if (tau > g->counter_frozen_after) tau = g->counter_frozen_after;
    double base = 0.0, offset_uj = g->energy_offset_uj;
    if (tau >= g->counter_reset_at) {
        base = g->counter_reset_at;
        offset_uj = 0.0;
    }
    double joules = (tau > base && !g->secondary) ? trace_integral(g, base, tau) : 0.0;
    if (in_window(tau, g->cglitch_start, g->cglitch_end)) joules += g->cglitch_j;
    double units = floor((offset_uj + joules * 1e6) / (double)g->resolution_uj);
    uint64_t raw = (uint64_t)units;
    if (g->counter_bits > 0 && g->counter_bits < 64) raw &= ((uint64_t)1 << g->counter_bits) - 1u;
    *energy_accumulator = raw;
    *counter_resolution = g->resolution_uj;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    *timestamp = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    return AMDSMI_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ monitoring
 * What other tools (CodeCarbon) ask for besides power and energy: fixed, plausible answers. */

amdsmi_status_t amdsmi_get_gpu_vram_usage(void *processor_handle, amdsmi_vram_usage_t *usage)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (usage == NULL) return AMDSMI_STATUS_INVAL;
    memset(usage, 0, sizeof(*usage));
    usage->vram_total = 196592; /* MB */
    usage->vram_used = 1024;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_activity(void *processor_handle, amdsmi_engine_usage_t *info)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (info == NULL) return AMDSMI_STATUS_INVAL;
    memset(info, 0, sizeof(*info));
    double pct = g->power_cap_w > 0 ? 100.0 * trace_value(g, now_tau()) / g->power_cap_w : 0.0;
    info->gfx_activity = (uint32_t)(pct < 0 ? 0 : pct > 100 ? 100 : pct);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_temp_metric(void *processor_handle, uint32_t sensor_type, uint32_t metric, int64_t *value)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    (void)sensor_type;
    (void)metric;
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (value == NULL) return AMDSMI_STATUS_INVAL;
    *value = 45;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_process_list(void *processor_handle, uint32_t *max_processes, void *list)
{
    fake_gpu_t *g = NULL;
    amdsmi_status_t rc = check(processor_handle, &g);
    (void)list;
    if (rc != AMDSMI_STATUS_SUCCESS) return rc;
    if (max_processes == NULL) return AMDSMI_STATUS_INVAL;
    *max_processes = 0;
    return AMDSMI_STATUS_SUCCESS;
}
