"""Runs ONE sample under Speakeasy and writes a normalised JSON report. Meant to be started by
:mod:`connectors.sandbox.speakeasy_provider` in a resource-limited subprocess, never imported by
the service itself (emulating hostile code in-process would share its memory and time).

Usage: ``python -m connectors.sandbox.speakeasy_worker SAMPLE OUT.json [--shellcode x86|amd64]``

Speakeasy lacks the registry write APIs (a call to one ends the run as "unsupported API"), so
they are hooked here and both emulated and recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

# Speakeasy's predefined root keys (HKEY_* handles are fixed values).
_ROOTS = {
    0x80000000: "HKEY_CLASSES_ROOT",
    0x80000001: "HKEY_CURRENT_USER",
    0x80000002: "HKEY_LOCAL_MACHINE",
    0x80000003: "HKEY_USERS",
    0x80000005: "HKEY_CURRENT_CONFIG",
}
_REG_TYPES = {
    1: "REG_SZ",
    2: "REG_EXPAND_SZ",
    3: "REG_BINARY",
    4: "REG_DWORD",
    7: "REG_MULTI_SZ",
    11: "REG_QWORD",
}
#: APIs worth listing in the report (injection, execution, anti-analysis, downloads).
_NOTABLE = {
    "WriteProcessMemory", "CreateRemoteThread", "CreateRemoteThreadEx", "NtWriteVirtualMemory",
    "QueueUserAPC", "SetThreadContext", "NtMapViewOfSection", "VirtualAllocEx", "NtUnmapViewOfSection",
    "IsDebuggerPresent", "CheckRemoteDebuggerPresent", "URLDownloadToFileA", "URLDownloadToFileW",
    "ShellExecuteA", "ShellExecuteW", "ShellExecuteExA", "ShellExecuteExW", "WinExec", "CreateProcessA",
    "CreateProcessW", "CreateServiceA", "CreateServiceW", "SetWindowsHookExA", "SetWindowsHookExW",
    "CryptEncrypt", "AdjustTokenPrivileges",
}  # fmt: skip


class Recorder:
    """Registry events seen through the hooks (speakeasy's own report misses these)."""

    def __init__(self) -> None:
        self.registry: list[dict[str, str]] = []
        self.errors: list[str] = []

    def guard(self, hook: Any) -> Any:
        """An exception inside a hook would abort the whole emulation: record it, answer failure."""

        def wrapped(emu: Any, api_name: str, func: Any, argv: list[Any]) -> int:
            try:
                return int(hook(emu, api_name, func, argv))
            except Exception as exc:
                self.errors.append(f"hook {api_name}: {type(exc).__name__}: {exc}")
                return 1  # ERROR_INVALID_FUNCTION

        return wrapped

    def key_path(self, emu: Any, handle: int) -> str:
        # 64-bit code passes the predefined keys sign-extended (0xFFFFFFFF80000001).
        if handle & 0xFFFFFFFF in _ROOTS and handle >> 32 in (0, 0xFFFFFFFF):
            return _ROOTS[handle & 0xFFFFFFFF]
        key = emu.reg_get_key(handle=handle)
        return key.get_path() if key else f"<handle {handle:#x}>"

    def create_key(self, emu: Any, api_name: str, func: Any, argv: list[Any]) -> int:
        hkey, sub_key, *_rest = argv
        phk_result, disposition = argv[7], argv[8]
        width = 2 if api_name.endswith("W") else 1
        sub = emu.read_mem_string(sub_key, width) if sub_key else ""
        path = self.key_path(emu, hkey) + ("\\" + sub.strip("\\") if sub else "")
        handle = emu.reg_open_key(path, create=True)
        if phk_result:
            emu.mem_write(phk_result, int(handle).to_bytes(emu.get_ptr_size(), "little"))
        if disposition:
            emu.mem_write(disposition, (1).to_bytes(4, "little"))  # REG_CREATED_NEW_KEY
        self.registry.append({"action": "create_key", "key": path})
        return 0

    def set_value(self, emu: Any, api_name: str, func: Any, argv: list[Any]) -> int:
        hkey, value_name, _reserved, value_type, data_ptr, size = argv
        width = 2 if api_name.endswith("W") else 1
        name = emu.read_mem_string(value_name, width) if value_name else ""
        value_type, size = value_type & 0xFFFFFFFF, size & 0xFFFFFFFF  # DWORDs: high half is junk on x64
        raw = bytes(emu.mem_read(data_ptr, min(size, 4096))) if data_ptr and size else b""
        if value_type in (1, 2, 7):
            data = raw.decode("utf-16-le" if width == 2 else "latin-1", "replace").rstrip("\x00")
        elif value_type == 4 and len(raw) >= 4:
            data = str(int.from_bytes(raw[:4], "little"))
        else:
            data = raw[:64].hex()
        path = self.key_path(emu, hkey)
        key = emu.reg_get_key(handle=hkey) or emu.reg_get_key(path=path)
        if key is not None:  # keep the emulated registry consistent for later reads by the sample
            stored: Any = data if value_type in (1, 2, 7) else int(data) if value_type == 4 and raw else raw
            key.create_value(name, value_type, stored)
        self.registry.append(
            {"action": "set_value", "key": path, "value_name": name, "data": data,
             "type": _REG_TYPES.get(value_type, str(value_type))}
        )  # fmt: skip
        return 0

    def set_key_value(self, emu: Any, api_name: str, func: Any, argv: list[Any]) -> int:
        hkey, sub_key, value_name, value_type, data_ptr, size = argv
        width = 2 if api_name.endswith("W") else 1
        sub = emu.read_mem_string(sub_key, width) if sub_key else ""
        path = self.key_path(emu, hkey) + ("\\" + sub.strip("\\") if sub else "")
        handle = emu.reg_open_key(path, create=True)
        return self.set_value(emu, api_name, func, [handle, value_name, 0, value_type, data_ptr, size])

    def delete(self, emu: Any, api_name: str, func: Any, argv: list[Any]) -> int:
        hkey, name_ptr = argv[0], argv[1]
        width = 2 if api_name.endswith("W") else 1
        name = emu.read_mem_string(name_ptr, width) if name_ptr else ""
        action = "delete_value" if "Value" in api_name else "delete_key"
        entry = {"action": action, "key": self.key_path(emu, hkey)}
        entry["value_name" if action == "delete_value" else "key"] = (
            name if action == "delete_value" else entry["key"] + "\\" + name
        )
        self.registry.append(entry)
        return 0


def run(sample: str, shellcode_arch: str | None) -> dict[str, Any]:
    import speakeasy  # type: ignore[import-untyped]  # only this subprocess loads the emulator
    from speakeasy.winenv.arch import CALL_CONV_CDECL, CALL_CONV_STDCALL  # type: ignore[import-untyped]

    recorder = Recorder()
    se = speakeasy.Speakeasy()
    hooks: list[tuple[Any, str, int]] = [
        (recorder.create_key, "RegCreateKeyExA", 9),
        (recorder.create_key, "RegCreateKeyExW", 9),
        (recorder.set_value, "RegSetValueExA", 6),
        (recorder.set_value, "RegSetValueExW", 6),
        (recorder.set_key_value, "RegSetKeyValueA", 6),
        (recorder.set_key_value, "RegSetKeyValueW", 6),
        (recorder.delete, "RegDeleteValueA", 2),
        (recorder.delete, "RegDeleteValueW", 2),
        (recorder.delete, "RegDeleteKeyA", 2),
        (recorder.delete, "RegDeleteKeyW", 2),
    ]
    # x64: the caller cleans the stack (cdecl-like); x86 Win32 APIs are stdcall.
    conv = CALL_CONV_CDECL if (shellcode_arch or _pe_arch(sample)) == "amd64" else CALL_CONV_STDCALL
    for callback, api, argc in hooks:
        se.add_api_hook(recorder.guard(callback), "advapi32", api, argc=argc, call_conv=conv)
    started = time.monotonic()
    errors: list[str] = []
    try:
        if shellcode_arch:
            address = se.load_shellcode(sample, shellcode_arch)
            se.run_shellcode(address)
        else:
            se.run_module(se.load_module(sample))
    except Exception as exc:  # a hostile sample can break the emulator itself: report, don't crash
        errors.append(f"emulation failed: {type(exc).__name__}: {exc}")
    report = json.loads(se.get_json_report())
    return normalise(report, recorder, errors + recorder.errors, time.monotonic() - started)


def _pe_arch(path: str) -> str:
    with open(path, "rb") as handle:
        head = handle.read(4096)
    offset = int.from_bytes(head[0x3C:0x40], "little") if len(head) >= 0x40 else 0
    machine = int.from_bytes(head[offset + 4 : offset + 6], "little") if offset + 6 <= len(head) else 0
    return "amd64" if machine == 0x8664 else "x86"


def normalise(
    report: dict[str, Any], recorder: Recorder, errors: list[str], seconds: float
) -> dict[str, Any]:
    """Speakeasy's per-entry-point events -> one flat document the provider maps to SandboxReport."""
    files: dict[str, dict[str, Any]] = {}
    network: list[dict[str, Any]] = []
    processes: list[dict[str, Any]] = []
    apis: list[dict[str, str]] = []
    timed_out = False
    for ep in report.get("entry_points") or []:
        error = ep.get("error") or {}
        if error:
            kind = str(error.get("type", "error"))
            timed_out |= "timeout" in kind.lower()
            detail = error.get("api_name") or error.get("address") or ""
            errors.append(f"{ep.get('ep_type', 'entry')}: {kind} {detail}".strip())
        for dropped in ep.get("dropped_files") or []:
            files[dropped["path"]] = {"path": dropped["path"], "size": dropped.get("size"),
                                      "sha256": dropped.get("sha256", "")}  # fmt: skip
        for access in ep.get("file_access") or []:
            if access.get("event") in ("write", "create") and "GENERIC_WRITE" in str(
                access.get("access_flags")
            ):
                files.setdefault(access["path"], {"path": access["path"]})
        net = ep.get("network_events") or {}
        for dns in net.get("dns") or []:
            network.append({"kind": "dns", "host": dns.get("query", ""), "ip": dns.get("response", "")})
        for traffic in net.get("traffic") or []:
            proto = str(traffic.get("proto", ""))
            network.append({"kind": "http" if "http" in proto else ("udp" if "udp" in proto else "tcp"),
                            "host": traffic.get("server", ""), "port": traffic.get("port")})  # fmt: skip
        for proc in ep.get("process_events") or []:
            event = str(proc.get("event", ""))
            if event == "create":
                processes.append({"action": "create", "command": proc.get("cmdline") or proc.get("path", "")})
            elif event in ("mem_write", "thread_inject", "inject"):
                processes.append({"action": "inject", "target": proc.get("path", "")})
        for call in ep.get("apis") or []:
            name = str(call.get("api_name", "")).rpartition(".")[2]
            args = [str(a) for a in call.get("args") or []]
            urls = [a for a in args if a.lower().startswith(("http://", "https://", "ftp://"))]
            for url in urls:
                kind = "download" if name.startswith("URLDownloadTo") else "http"
                network.append(
                    {"kind": kind, "url": url, "host": url.split("/")[2] if url.count("/") >= 2 else ""}
                )
            if name.startswith("URLDownloadToFile") and len(args) >= 3 and not args[2].startswith("0x"):
                files.setdefault(args[2], {"path": args[2]})  # the emulator fakes the download, not the file
            if name in _NOTABLE:
                apis.append(
                    {"name": name, "detail": ", ".join(a for a in args if not a.startswith("0x"))[:200]}
                )
    return {
        "files_dropped": list(files.values()),
        "registry_changes": recorder.registry,
        "network": network,
        "processes": processes,
        "api_calls": apis,
        "errors": errors,
        "timed_out": timed_out,
        "duration_seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sample")
    parser.add_argument("output")
    parser.add_argument("--shellcode", choices=["x86", "amd64"], default=None)
    args = parser.parse_args(argv)
    result = run(args.sample, args.shellcode)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
