"""Is this a virtual machine, and how many watts is the CPU this run can see worth at full load?

A VM's ``/proc/cpuinfo`` lists only its vCPUs, but names the *host's* CPU model (or a generic name such as
``AMD EPYC`` that hides it). Charging a 2-vCPU VM the host socket's whole TDP (280 W for an EPYC 7763) bills
the run for every other tenant of the socket. This module picks the full-load watts of the CPUs the run owns --
its :class:`CpuScale` -- by one of four rules, named in the channel's method:

- ``user-tdp``: the ``tdp_w`` the user gave (watts at full load of the CPUs this machine or VM shows).
- ``tdp``: not a VM: the CPU model's per-socket TDP from CodeCarbon's table x sockets (``tdp-default``: the
  model is not in the table and CodeCarbon's 85 W fallback is used).
- ``vm-slice-tdp``: a VM whose host model is in the table and whose hardware thread count is known:
  ``TDP x vCPUs / threads per socket``. A vCPU is one hardware thread on the major clouds (AWS: "each vCPU is a
  thread of a CPU core"), so a VM with all of a socket's threads gets the socket's TDP.
- ``vm-vcpu``: a VM whose host model is hidden or not in the tables: ``vcpu_w x vCPUs`` with ``vcpu_w``
  3.5 W, Cloud Carbon Footprint's average full-load watts per vCPU (SPECpower-derived, AWS coefficients).

Every rule keeps the CPU model's linear curve (idle = 0.74 / 3.5 of full load; see :mod:`wattwatch.sensors.cpu`).

Threads per socket (:func:`threads_per_socket`): ``N-Core`` in the model name (AMD prints ``AMD EPYC 7763
64-Core Processor``) gives ``2 x N`` (every EPYC and Threadripper part in CodeCarbon's table runs two threads per
core); otherwise :data:`HOST_THREADS`, a short table of the host CPUs of the common cloud instance families,
from the vendors' product pages (cores x 2 threads). A model in neither falls to ``vm-vcpu``.

VM detection (:func:`detect_vm`): the ``hypervisor`` flag in ``/proc/cpuinfo`` (set by the CPUID bit every
hypervisor sets for its guests), else a DMI vendor or product of a known hypervisor under
``/sys/class/dmi/id``. Both roots are parameters.
"""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path

from wattwatch.sensors.cpuinfo import CpuInfo, normalize_cpu_name, read_cpuinfo
from wattwatch.sensors.tdp_index import find_tdp
from wattwatch.util.records import record

__all__ = [
    "CCF_MAX_W_PER_VCPU",
    "CCF_MIN_W_PER_VCPU",
    "DEFAULT_DMI_ROOT",
    "HOST_THREADS",
    "CpuScale",
    "VmInfo",
    "cpu_scale",
    "detect_vm",
    "threads_per_socket",
]

CCF_MIN_W_PER_VCPU = 0.74
"""Cloud Carbon Footprint's AWS average idle watts per vCPU (SPECpower-derived)."""
CCF_MAX_W_PER_VCPU = 3.5
"""Cloud Carbon Footprint's AWS average full-load watts per vCPU (SPECpower-derived)."""

DEFAULT_DMI_ROOT = Path("/sys/class/dmi/id")

_DMI_FILES = ("sys_vendor", "product_name", "bios_vendor", "board_vendor", "chassis_vendor")
_HYPERVISOR_MARKS = (
    ("qemu", "QEMU/KVM"),
    ("kvm", "KVM"),
    ("amazon ec2", "Amazon EC2 (Nitro/KVM)"),
    ("google compute engine", "Google Compute Engine"),
    ("google", "Google Compute Engine"),
    ("microsoft corporation", "Hyper-V"),
    ("virtual machine", "Hyper-V"),
    ("vmware", "VMware"),
    ("xen", "Xen"),
    ("innotek", "VirtualBox"),
    ("virtualbox", "VirtualBox"),
    ("openstack", "OpenStack"),
    ("parallels", "Parallels"),
    ("alibaba cloud", "Alibaba Cloud ECS"),
    ("bochs", "Bochs"),
    ("bhyve", "bhyve"),
)

HOST_THREADS: dict[str, int] = {
    # Intel: cores per socket from ark.intel.com / the cloud's instance-type pages, x 2 (Hyper-Threading).
    "intel xeon platinum 8375c": 64,  # 32 cores (AWS m6i/c6i/r6i)
    "intel xeon platinum 8488c": 96,  # 48 cores (AWS m7i/c7i)
    "intel xeon platinum 8259cl": 48,  # 24 cores (AWS m5/c5)
    "intel xeon platinum 8275cl": 48,  # 24 cores (AWS c5/p3dn)
    "intel xeon platinum 8175m": 48,  # 24 cores (AWS m5)
    "intel xeon platinum 8124m": 36,  # 18 cores (AWS c5)
    "intel xeon platinum 8272cl": 52,  # 26 cores (Azure)
    "intel xeon platinum 8171m": 52,  # 26 cores (Azure Dv3/Ev3)
    "intel xeon platinum 8370c": 64,  # 32 cores (Azure Dv5/Ev5)
    "intel xeon e5-2686 v4": 36,  # 18 cores (AWS m4/p2/p3)
    "intel xeon e5-2673 v4": 40,  # 20 cores (Azure)
    # AMD cloud parts whose names carry no core count: cores x 2 (SMT).
    "amd epyc 7r13": 96,  # 48 cores (AWS m6a/c6a)
    "amd epyc 7r32": 96,  # 48 cores (AWS m5a/c5a)
    "amd epyc 7b12": 128,  # 64 cores (GCP N2D/C2D)
    "amd epyc 7b13": 128,  # 64 cores (GCP N2D/C2D)
    "amd epyc 7v12": 128,  # 64 cores (Azure)
}
"""Hardware threads per socket of common cloud host CPUs, keyed by :func:`normalize_cpu_name`."""

_N_CORE = re.compile(r"\b(\d+)-core\b", re.IGNORECASE)


@record
class VmInfo:
    """What says this is a VM: ``hypervisor`` (a name, e.g. ``"KVM"``, or ``"unknown"`` when only the CPU flag
    says so) and ``evidence`` (``"cpuinfo hypervisor flag"``, ``"dmi sys_vendor=QEMU"``...)."""

    hypervisor: str
    evidence: tuple[str, ...]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def detect_vm(
    proc_root: Path = Path("/proc"), dmi_root: Path = DEFAULT_DMI_ROOT, *, cpuinfo: CpuInfo | None = None
) -> VmInfo | None:
    """A :class:`VmInfo` when ``<proc_root>/cpuinfo`` has the ``hypervisor`` flag or a DMI file under
    ``dmi_root`` names a hypervisor; ``None`` on bare metal (or when neither can be read). ``cpuinfo``: the
    file already parsed (it can take milliseconds to generate on a large host: read it once)."""
    evidence: list[str] = []
    name = ""
    info = cpuinfo if cpuinfo is not None else read_cpuinfo(Path(proc_root))
    if info.hypervisor:
        evidence.append("cpuinfo hypervisor flag")
    for fname in _DMI_FILES:
        text = _read(Path(dmi_root) / fname)
        low = text.lower()
        for mark, hv in _HYPERVISOR_MARKS:
            if mark in low:
                evidence.append(f"dmi {fname}={text}")
                name = name or hv
                break
    if not evidence:
        return None
    return VmInfo(name or "unknown", tuple(evidence))


def threads_per_socket(model_name: str) -> int | None:
    """Hardware threads per socket of ``model_name`` (raw ``/proc/cpuinfo`` text), or ``None`` when unknown.

    ``N-Core`` in the name gives ``2 x N``; else :data:`HOST_THREADS`.
    """
    match = _N_CORE.search(model_name)
    if match:
        return 2 * int(match.group(1))
    return HOST_THREADS.get(normalize_cpu_name(model_name))


@record
class CpuScale:
    """Full-load watts of the CPUs this run can see (``full_w``) and the ``rule`` that gave them
    (``user-tdp``, ``tdp``, ``tdp-default``, ``vm-slice-tdp``, ``vm-vcpu``). ``details`` are the rule's inputs,
    JSON-serialisable, for :meth:`describe`."""

    full_w: float
    rule: str
    details: dict[str, object] = field(default_factory=dict)


def cpu_scale(
    model_name: str,
    logical_cpus: int,
    sockets: int | None,
    *,
    vm: VmInfo | None,
    tdp_w: float | None = None,
    vcpu_w: float | None = None,
    data_dir: Path | None = None,
) -> CpuScale:
    """Choose the full-load watts of the visible CPUs (see the module docstring for the rules, in order).

    ``logical_cpus`` are the CPUs the system shows (a VM's vCPUs); ``tdp_w`` overrides everything; ``vcpu_w``
    (watts per vCPU at full load) replaces :data:`CCF_MAX_W_PER_VCPU` and forces the ``vm-vcpu`` rule on a VM.
    ``ValueError`` for a non-positive ``tdp_w``/``vcpu_w`` or ``logical_cpus < 1``.
    """
    if tdp_w is not None and not tdp_w > 0:
        raise ValueError(f"tdp_w must be a positive number of watts, not {tdp_w!r}")
    if vcpu_w is not None and not vcpu_w > 0:
        raise ValueError(f"vcpu_w must be a positive number of watts per vCPU, not {vcpu_w!r}")
    if logical_cpus < 1:
        raise ValueError(f"logical_cpus must be >= 1, not {logical_cpus!r}")
    base: dict[str, object] = {"cpu_model": model_name, "logical_cpus": logical_cpus}
    if tdp_w is not None:
        return CpuScale(float(tdp_w), "user-tdp", {**base, "tdp_w": float(tdp_w), "source": "user"})
    match = find_tdp(model_name, data_dir)  # the one model's rows, not the whole table (issue 18)
    if vm is None:
        n_sockets = sockets or 1
        rule = "tdp" if match.source != "default" else "tdp-default"
        return CpuScale(
            match.tdp_w * n_sockets,
            rule,
            {
                **base,
                "tdp_w_per_socket": match.tdp_w,
                "sockets": n_sockets,
                "tdp_source": match.source,
                "tdp_table_name": match.name,
            },
        )
    vm_details: dict[str, object] = {**base, "hypervisor": vm.hypervisor, "vm_evidence": list(vm.evidence)}
    threads = threads_per_socket(model_name)
    if vcpu_w is None and match.source != "default" and threads:
        # Above one socket's threads the VM spans sockets (a 192-vCPU VM on two 96-thread sockets: 2 x TDP).
        share = logical_cpus / threads
        return CpuScale(
            match.tdp_w * share,
            "vm-slice-tdp",
            {
                **vm_details,
                "tdp_w_per_socket": match.tdp_w,
                "tdp_table_name": match.name,
                "host_threads_per_socket": threads,
                "slice": round(share, 6),
            },
        )
    per_vcpu = float(vcpu_w) if vcpu_w is not None else CCF_MAX_W_PER_VCPU
    if vcpu_w is not None:
        reason = "vcpu_w given"
    elif match.source == "default":
        reason = "host CPU model hidden or not in CodeCarbon's table"
    else:
        reason = "host CPU's thread count unknown"
    return CpuScale(
        per_vcpu * logical_cpus,
        "vm-vcpu",
        {
            **vm_details,
            "vcpu_w": per_vcpu,
            "vcpu_w_source": "user" if vcpu_w is not None else "Cloud Carbon Footprint (AWS, SPECpower)",
            "reason": reason,
        },
    )
