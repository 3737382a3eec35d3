/*
 * fake_nvml.c -- a scripted stand-in for libnvidia-ml.so.1, for tests only.
 *
 * Compiled at test time (see tests/fakenvml.py) against the REAL nvml.h shipped in the nvidia-nvml-dev wheel,
 * so every exported function has the exact signature pynvml expects.
 *
 * Behaviour is read from the text file named by $FAKE_NVML_CONFIG at every nvmlInit*, so one process can run
 * several tests with different GPUs.  All state is derived from that file and CLOCK_MONOTONIC (the clock behind
 * Python's time.monotonic() on Linux); nothing accumulates, so re-reading the same file changes nothing.
 *
 * Config format (one directive per line, '#' comments; times are seconds relative to `t0`):
 *
 *   t0 <monotonic seconds>             origin of every trace and fault time
 *   init_error <nvmlReturn_t>          every nvmlInit* fails with this code
 *   driver_version <string>
 *   gpu                                starts a new GPU; the lines below describe it
 *   name <rest of line>
 *   uuid <GPU-...>
 *   pci_bus_id <0000:17:00.0 style>
 *   power_limit_mw <uint>
 *   energy_offset_mj <ulonglong>       counter value at t0
 *   counter <0|1>                      0: GetTotalEnergyConsumption -> NOT_SUPPORTED (pre-Volta)
 *   instant <0|1>                      0: NVML_FI_DEV_POWER_INSTANT -> NOT_SUPPORTED
 *   lost_after <s>                     from then on every call on the handle -> GPU_IS_LOST
 *   counter_reset_at <s>               the counter restarts from 0 then (driver reload)
 *   counter_unsupported_after <s>      the counter answers NOT_SUPPORTED from then on
 *   latency_ms <ms>                    each power/energy read sleeps this long
 *   mig_mode <0|1>
 *   mig_uuid <MIG-...>                 one per MIG device (repeatable)
 *   mig_slices <n>                     GPU-instance slices of the MIG device named last (default 1)
 *   gpu_slices <n>                     slices of the whole GPU (the full GPU-instance profile; default 7)
 *   proc <pid> <sm %> <MiB> <start> <end>
 *                                      a compute process on this GPU during [start, end): listed by
 *                                      nvmlDeviceGetComputeRunningProcesses; while sm % > 0 it has one sample
 *                                      (timeStamp = now, smUtil = sm %) in nvmlDeviceGetProcessUtilization
 *   util_period <s>                    the driver's utilisation sampling period: samples are stamped at multiples
 *                                      of it, so a query within one period of the last gets NOT_FOUND (0: a
 *                                      fresh sample at every call)
 *   term const  <start> <end> <W>
 *   term ramp   <start> <end> <W at anchor> <slope W/s>      anchor = start, or 0 if start is -inf
 *   term square <start> <end> <low W> <high W> <period s> <duty 0..1> <phase s>
 *
 * Power P(tau) is the sum of the terms whose window [start, end) contains tau (start/end may be -inf/inf).
 * The energy counter is the exact integral of P since t0 (or since the reset), plus the offset, floored to mJ.
 * nvmlDeviceGetPowerUsage is the exact mean of P over the trailing second (like Ampere+ boards);
 * the NVML_FI_DEV_POWER_INSTANT field is P(now).  tests/fakenvml.py mirrors this arithmetic in Python.
 */
#define _POSIX_C_SOURCE 200809L
#define NVML_NO_UNVERSIONED_FUNC_DEFS 1
#include "nvml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#define MAX_GPUS 64
#define MAX_MIGS 8
#define MAX_TERMS 32
#define MAX_PROCS 16

enum term_kind { TERM_CONST, TERM_RAMP, TERM_SQUARE };

typedef struct {
    enum term_kind kind;
    double start, end;
    double a, b, period, duty, phase; /* const: a=W; ramp: a=W at anchor, b=slope; square: a=low, b=high */
} term_t;

typedef struct {
    unsigned int pid, sm_util;
    unsigned long long mem_mib;
    double start, end;
} fake_proc_t;

typedef struct {
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char pci_bus_id[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE];
    unsigned int power_limit_mw;
    unsigned long long energy_offset_mj;
    int counter, instant, mig_mode;
    double lost_after, counter_reset_at, counter_unsupported_after, latency_ms;
    int n_terms;
    term_t terms[MAX_TERMS];
    int n_migs;
    char mig_uuids[MAX_MIGS][NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    unsigned int mig_slices[MAX_MIGS];
    unsigned int gpu_slices;
    double util_period;
    int n_procs;
    fake_proc_t procs[MAX_PROCS];
} fake_gpu_t;

/* Handles are pointers into static arrays, so a handle taken before a re-init stays valid memory. */
struct nvmlDevice_st {
    int is_mig;
    int gpu;
    int mig;
};

static fake_gpu_t g_gpus[MAX_GPUS];
static struct nvmlDevice_st g_handles[MAX_GPUS];
static struct nvmlDevice_st g_mig_handles[MAX_GPUS][MAX_MIGS];
static int g_count = 0;
static int g_refcount = 0;
static double g_t0 = 0.0;
static char g_driver_version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = "550.54.15";

/* ------------------------------------------------------------------------------------------------ time */

static double now_tau(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - g_t0;
}

static void sleep_ms(double ms)
{
    if (ms <= 0.0) return;
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000.0);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000.0) * 1e6);
    nanosleep(&ts, NULL);
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

/* An antiderivative of the unwindowed term, valid on the whole real line. */
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

/* Exact integral of the trace over [x1, x2] (x1 <= x2), in joules. */
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
    snprintf(g->name, sizeof(g->name), "NVIDIA H100 80GB HBM3");
    snprintf(g->uuid, sizeof(g->uuid), "GPU-%08x-0000-0000-0000-%012x", 0xfa4e0000u + (unsigned)index, (unsigned)index);
    snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "00000000:%02X:00.0", 0x10 + index);
    g->power_limit_mw = 700000;
    g->counter = 1;
    g->instant = 1;
    g->lost_after = INFINITY;
    g->counter_reset_at = INFINITY;
    g->counter_unsupported_after = INFINITY;
    g->gpu_slices = 7;
}

static void copy_rest(char *dst, size_t n, const char *src)
{
    while (*src == ' ' || *src == '\t') src++;
    snprintf(dst, n, "%s", src);
    size_t len = strlen(dst);
    while (len > 0 && (dst[len - 1] == '\n' || dst[len - 1] == '\r' || dst[len - 1] == ' ')) dst[--len] = '\0';
}

static nvmlReturn_t config_error(const char *path, int line, const char *what)
{
    fprintf(stderr, "fake_nvml: %s:%d: %s\n", path, line, what);
    return NVML_ERROR_UNKNOWN;
}

static nvmlReturn_t load_config(void)
{
    const char *path = getenv("FAKE_NVML_CONFIG");
    if (path == NULL || *path == '\0') return NVML_ERROR_DRIVER_NOT_LOADED;
    FILE *fp = fopen(path, "r");
    if (fp == NULL) return NVML_ERROR_DRIVER_NOT_LOADED;

    int count = 0, lineno = 0, init_error = 0;
    double t0 = 0.0;
    char line[1024];
    fake_gpu_t *g = NULL;
    nvmlReturn_t rc = NVML_SUCCESS;

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
        else if (strcmp(key, "pci_bus_id") == 0) copy_rest(g->pci_bus_id, sizeof(g->pci_bus_id), rest);
        else if (strcmp(key, "power_limit_mw") == 0) g->power_limit_mw = (unsigned int)strtoul(rest, NULL, 10);
        else if (strcmp(key, "energy_offset_mj") == 0) g->energy_offset_mj = strtoull(rest, NULL, 10);
        else if (strcmp(key, "counter") == 0) g->counter = atoi(rest);
        else if (strcmp(key, "instant") == 0) g->instant = atoi(rest);
        else if (strcmp(key, "mig_mode") == 0) g->mig_mode = atoi(rest);
        else if (strcmp(key, "lost_after") == 0) g->lost_after = strtod(rest, NULL);
        else if (strcmp(key, "counter_reset_at") == 0) g->counter_reset_at = strtod(rest, NULL);
        else if (strcmp(key, "counter_unsupported_after") == 0) g->counter_unsupported_after = strtod(rest, NULL);
        else if (strcmp(key, "latency_ms") == 0) g->latency_ms = strtod(rest, NULL);
        else if (strcmp(key, "mig_uuid") == 0) {
            if (g->n_migs >= MAX_MIGS) { rc = config_error(path, lineno, "too many mig devices"); break; }
            copy_rest(g->mig_uuids[g->n_migs], sizeof(g->mig_uuids[0]), rest);
            g->mig_slices[g->n_migs] = 1;
            g->n_migs++;
        } else if (strcmp(key, "mig_slices") == 0) {
            if (g->n_migs == 0) { rc = config_error(path, lineno, "mig_slices before mig_uuid"); break; }
            g->mig_slices[g->n_migs - 1] = (unsigned int)strtoul(rest, NULL, 10);
        } else if (strcmp(key, "util_period") == 0) {
            g->util_period = strtod(rest, NULL);
        } else if (strcmp(key, "gpu_slices") == 0) {
            g->gpu_slices = (unsigned int)strtoul(rest, NULL, 10);
        } else if (strcmp(key, "proc") == 0) {
            if (g->n_procs >= MAX_PROCS) { rc = config_error(path, lineno, "too many procs"); break; }
            fake_proc_t *pr = &g->procs[g->n_procs];
            char s_start[32] = "", s_end[32] = "";
            if (sscanf(rest, " %u %u %llu %31s %31s", &pr->pid, &pr->sm_util, &pr->mem_mib, s_start, s_end) != 5) {
                rc = config_error(path, lineno, "bad proc");
                break;
            }
            pr->start = strtod(s_start, NULL);
            pr->end = strtod(s_end, NULL);
            g->n_procs++;
        } else if (strcmp(key, "term") == 0) {
            if (g->n_terms >= MAX_TERMS) { rc = config_error(path, lineno, "too many terms"); break; }
            term_t *t = &g->terms[g->n_terms];
            char kind[16] = "";
            char s_start[32] = "", s_end[32] = "";
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
    if (rc != NVML_SUCCESS) return rc;
    if (init_error != 0) return (nvmlReturn_t)init_error;

    g_t0 = t0;
    g_count = count;
    for (int i = 0; i < MAX_GPUS; i++) {
        g_handles[i].is_mig = 0;
        g_handles[i].gpu = i;
        g_handles[i].mig = -1;
        for (int j = 0; j < MAX_MIGS; j++) {
            g_mig_handles[i][j].is_mig = 1;
            g_mig_handles[i][j].gpu = i;
            g_mig_handles[i][j].mig = j;
        }
    }
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ helpers */

static int valid_handle(nvmlDevice_t d)
{
    if (d == NULL) return 0;
    if (d >= &g_handles[0] && d < &g_handles[MAX_GPUS]) return d->gpu < g_count;
    if (d >= &g_mig_handles[0][0] && d < &g_mig_handles[0][0] + MAX_GPUS * MAX_MIGS)
        return d->gpu < g_count && d->mig < g_gpus[d->gpu].n_migs;
    return 0;
}

/* Common entry check for device calls: initialised, valid handle, not fallen off the bus. */
static nvmlReturn_t check(nvmlDevice_t d, fake_gpu_t **out)
{
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    if (!valid_handle(d)) return NVML_ERROR_INVALID_ARGUMENT;
    fake_gpu_t *g = &g_gpus[d->gpu];
    if (now_tau() >= g->lost_after) return NVML_ERROR_GPU_IS_LOST;
    *out = g;
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src)
{
    if (dst == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ init */

nvmlReturn_t DECLDIR nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    nvmlReturn_t rc = load_config();
    if (rc != NVML_SUCCESS) return rc;
    g_refcount++;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t DECLDIR nvmlInit(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t DECLDIR nvmlShutdown(void)
{
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    g_refcount--;
    return NVML_SUCCESS;
}

const DECLDIR char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    default: return "Unknown Error";
    }
}

nvmlReturn_t DECLDIR nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, length, g_driver_version);
}

/* ------------------------------------------------------------------------------------------------ discovery */

nvmlReturn_t DECLDIR nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    if (deviceCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = (unsigned int)g_count;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetCount(unsigned int *deviceCount) { return nvmlDeviceGetCount_v2(deviceCount); }

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || index >= (unsigned int)g_count) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &g_handles[index];
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    if (uuid == NULL || device == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < g_count; i++) {
        if (strcmp(g_gpus[i].uuid, uuid) == 0) { *device = &g_handles[i]; return NVML_SUCCESS; }
        for (int j = 0; j < g_gpus[i].n_migs; j++)
            if (strcmp(g_gpus[i].mig_uuids[j], uuid) == 0) { *device = &g_mig_handles[i][j]; return NVML_SUCCESS; }
    }
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    if (g_refcount <= 0) return NVML_ERROR_UNINITIALIZED;
    if (pciBusId == NULL || device == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < g_count; i++) {
        const char *id = g_gpus[i].pci_bus_id;
        /* accept the 8-digit and the 4-digit domain forms */
        size_t la = strlen(id), lb = strlen(pciBusId);
        size_t n = la < lb ? la : lb;
        if (strcasecmp(id + la - n, pciBusId + lb - n) == 0) { *device = &g_handles[i]; return NVML_SUCCESS; }
    }
    return NVML_ERROR_NOT_FOUND;
}

nvmlReturn_t DECLDIR nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}

nvmlReturn_t DECLDIR nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (index == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *index = (unsigned int)device->gpu;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    return copy_string(name, length, g->name);
}

nvmlReturn_t DECLDIR nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    return copy_string(uuid, length, device->is_mig ? g->mig_uuids[device->mig] : g->uuid);
}

static nvmlReturn_t fill_pci(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (pci == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof(*pci));
    unsigned int domain = 0, bus = 0, dev = 0, fn = 0;
    sscanf(g->pci_bus_id, "%x:%x:%x.%x", &domain, &bus, &dev, &fn);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = dev;
    pci->pciDeviceId = 0x233010DE; /* H100 SXM5 */
    pci->pciSubSystemId = 0x16C110DE;
    snprintf(pci->busId, sizeof(pci->busId), "%s", g->pci_bus_id);
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:%02X.0", domain & 0xffff, bus, dev);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) { return fill_pci(device, pci); }
nvmlReturn_t DECLDIR nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci) { return fill_pci(device, pci); }
nvmlReturn_t DECLDIR nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_t *pci) { return fill_pci(device, pci); }

/* ------------------------------------------------------------------------------------------------ power */

nvmlReturn_t DECLDIR nvmlDeviceGetPowerManagementLimit(nvmlDevice_t device, unsigned int *limit)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (device->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    if (limit == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *limit = g->power_limit_mw;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit)
{
    return nvmlDeviceGetPowerManagementLimit(device, limit);
}

nvmlReturn_t DECLDIR nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (energy == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    sleep_ms(g->latency_ms);
    double tau = now_tau();
    if (device->is_mig || !g->counter || tau >= g->counter_unsupported_after) return NVML_ERROR_NOT_SUPPORTED;
    double base = 0.0;
    double offset_mj = (double)g->energy_offset_mj;
    if (tau >= g->counter_reset_at) {
        base = g->counter_reset_at;
        offset_mj = 0.0;
    }
    double joules = tau > base ? trace_integral(g, base, tau) : 0.0;
    *energy = (unsigned long long)floor(offset_mj + joules * 1000.0);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (device->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    if (power == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    sleep_ms(g->latency_ms);
    double tau = now_tau();
    double mean_w = trace_integral(g, tau - 1.0, tau); /* over a 1 s window */
    *power = (unsigned int)floor(mean_w * 1000.0 + 0.5);
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount, nvmlFieldValue_t *values)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (values == NULL || valuesCount < 0) return NVML_ERROR_INVALID_ARGUMENT;
    sleep_ms(g->latency_ms);
    double tau = now_tau();
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long long stamp_us = (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
    for (int i = 0; i < valuesCount; i++) {
        nvmlFieldValue_t *v = &values[i];
        v->timestamp = stamp_us;
        v->latencyUsec = 0;
        v->valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
        v->value.ullVal = 0;
        if (device->is_mig) {
            v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        } else if (v->fieldId == NVML_FI_DEV_POWER_INSTANT && g->instant) {
            v->nvmlReturn = NVML_SUCCESS;
            v->value.uiVal = (unsigned int)floor(trace_value(g, tau) * 1000.0 + 0.5);
        } else if (v->fieldId == NVML_FI_DEV_POWER_AVERAGE) {
            v->nvmlReturn = NVML_SUCCESS;
            v->value.uiVal = (unsigned int)floor(trace_integral(g, tau - 1.0, tau) * 1000.0 + 0.5);
        } else {
            v->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        }
    }
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ misc */

nvmlReturn_t DECLDIR nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (utilization == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    double limit_w = g->power_limit_mw > 0 ? g->power_limit_mw / 1000.0 : 1.0;
    double pct = 100.0 * trace_value(g, now_tau()) / limit_w;
    utilization->gpu = (unsigned int)(pct < 0 ? 0 : pct > 100 ? 100 : pct);
    utilization->memory = utilization->gpu / 2;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (memory == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = 85520809984ULL;
    memory->used = 1048576ULL * 1024ULL;
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (device->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    if (currentMode == NULL || pendingMode == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *currentMode = g->mig_mode ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
    *pendingMode = *currentMode;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (isMigDevice == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *isMigDevice = (unsigned int)device->is_mig;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (device->is_mig || !g->mig_mode) return NVML_ERROR_NOT_SUPPORTED;
    if (count == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *count = (unsigned int)g->n_migs;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                         nvmlDevice_t *migDevice)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (device->is_mig || !g->mig_mode) return NVML_ERROR_NOT_SUPPORTED;
    if (migDevice == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (index >= (unsigned int)g->n_migs) return NVML_ERROR_NOT_FOUND;
    *migDevice = &g_mig_handles[device->gpu][index];
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice, nvmlDevice_t *device)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(migDevice, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (device == NULL || !migDevice->is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &g_handles[migDevice->gpu];
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ processes */

static int proc_running(const fake_proc_t *pr, double tau) { return tau >= pr->start && tau < pr->end; }

nvmlReturn_t DECLDIR nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                            nvmlProcessInfo_t *infos)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (infoCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    double tau = now_tau();
    unsigned int n = 0;
    for (int i = 0; i < g->n_procs; i++) n += (unsigned int)proc_running(&g->procs[i], tau);
    if (*infoCount < n) {
        *infoCount = n;
        return n == 0 ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
    }
    if (n > 0 && infos == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int k = 0;
    for (int i = 0; i < g->n_procs; i++) {
        const fake_proc_t *pr = &g->procs[i];
        if (!proc_running(pr, tau)) continue;
        infos[k].pid = pr->pid;
        infos[k].usedGpuMemory = pr->mem_mib * 1048576ULL;
        infos[k].gpuInstanceId = 0xFFFFFFFFu;
        infos[k].computeInstanceId = 0xFFFFFFFFu;
        k++;
    }
    *infoCount = n;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization,
                                                     unsigned int *processSamplesCount,
                                                     unsigned long long lastSeenTimeStamp)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (processSamplesCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (device->is_mig) return NVML_ERROR_NOT_SUPPORTED;
    double tau = now_tau();
    struct timeval tv;
    gettimeofday(&tv, NULL);
    unsigned long long stamp_us = (unsigned long long)tv.tv_sec * 1000000ULL + (unsigned long long)tv.tv_usec;
    if (g->util_period > 0.0) {
        unsigned long long period_us = (unsigned long long)(g->util_period * 1e6);
        if (period_us > 0) stamp_us = (stamp_us / period_us) * period_us;
    }
    unsigned int n = 0;
    for (int i = 0; i < g->n_procs; i++)
        n += (unsigned int)(proc_running(&g->procs[i], tau) && g->procs[i].sm_util > 0);
    if (n == 0 || stamp_us <= lastSeenTimeStamp) return NVML_ERROR_NOT_FOUND;
    if (utilization == NULL || *processSamplesCount < n) {
        *processSamplesCount = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    unsigned int k = 0;
    for (int i = 0; i < g->n_procs; i++) {
        const fake_proc_t *pr = &g->procs[i];
        if (!proc_running(pr, tau) || pr->sm_util == 0) continue;
        utilization[k].pid = pr->pid;
        utilization[k].timeStamp = stamp_us;
        utilization[k].smUtil = pr->sm_util;
        utilization[k].memUtil = pr->sm_util / 2;
        utilization[k].encUtil = 0;
        utilization[k].decUtil = 0;
        k++;
    }
    *processSamplesCount = n;
    return NVML_SUCCESS;
}

/* ------------------------------------------------------------------------------------------------ MIG slices */

nvmlReturn_t DECLDIR nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (attributes == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    memset(attributes, 0, sizeof(*attributes));
    unsigned int slices = device->is_mig ? g->mig_slices[device->mig] : g->gpu_slices;
    attributes->multiprocessorCount = 16 * slices;
    attributes->gpuInstanceSliceCount = slices;
    attributes->computeInstanceSliceCount = slices;
    attributes->memorySizeMB = 10240ULL * slices;
    return NVML_SUCCESS;
}

nvmlReturn_t DECLDIR nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device, unsigned int profile,
                                                         nvmlGpuInstanceProfileInfo_t *info)
{
    fake_gpu_t *g;
    nvmlReturn_t rc = check(device, &g);
    if (rc != NVML_SUCCESS) return rc;
    if (device->is_mig || !g->mig_mode) return NVML_ERROR_NOT_SUPPORTED;
    if (info == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    static const unsigned int slices_of_profile[] = {1, 2, 3, 4, 7, 8, 6};
    if (profile >= sizeof(slices_of_profile) / sizeof(slices_of_profile[0])) return NVML_ERROR_NOT_SUPPORTED;
    unsigned int slices = slices_of_profile[profile];
    if (slices > g->gpu_slices) return NVML_ERROR_NOT_SUPPORTED;
    memset(info, 0, sizeof(*info));
    info->id = profile;
    info->sliceCount = slices;
    info->instanceCount = g->gpu_slices / slices;
    info->multiprocessorCount = 16 * slices;
    info->memorySizeMB = 10240ULL * slices;
    return NVML_SUCCESS;
}
