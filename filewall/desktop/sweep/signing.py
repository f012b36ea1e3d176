"""Is a Windows program signed? Two answers, kept apart:

- *carries* a signature: read from the file by the engine's PE analyzer (any OS, offline);
- the signature *verifies*: Windows' own ``WinVerifyTrust`` (live Windows only, no network
  look-ups: revocation is not checked, only cached URLs are used). Elsewhere: unknown.
"""

from __future__ import annotations

import sys


def verify(path: str) -> bool | None:
    """True/False from WinVerifyTrust on Windows; None where it cannot be asked."""
    if sys.platform != "win32":
        return None
    try:
        return _win_verify_trust(path)
    except Exception:  # pragma: no cover - Windows only
        return None


def _win_verify_trust(path: str) -> bool:  # pragma: no cover - Windows only
    import ctypes
    import uuid
    from ctypes import wintypes

    class GUID(ctypes.Structure):
        _fields_ = [("Data1", wintypes.DWORD), ("Data2", wintypes.WORD), ("Data3", wintypes.WORD),
                    ("Data4", ctypes.c_ubyte * 8)]

    class WINTRUST_FILE_INFO(ctypes.Structure):
        _fields_ = [("cbStruct", wintypes.DWORD), ("pcwszFilePath", wintypes.LPCWSTR),
                    ("hFile", wintypes.HANDLE), ("pgKnownSubject", ctypes.c_void_p)]

    class WINTRUST_DATA(ctypes.Structure):
        _fields_ = [("cbStruct", wintypes.DWORD), ("pPolicyCallbackData", ctypes.c_void_p),
                    ("pSIPClientData", ctypes.c_void_p), ("dwUIChoice", wintypes.DWORD),
                    ("fdwRevocationChecks", wintypes.DWORD), ("dwUnionChoice", wintypes.DWORD),
                    ("pFile", ctypes.POINTER(WINTRUST_FILE_INFO)), ("dwStateAction", wintypes.DWORD),
                    ("hWVTStateData", wintypes.HANDLE), ("pwszURLReference", wintypes.LPCWSTR),
                    ("dwProvFlags", wintypes.DWORD), ("dwUIContext", wintypes.DWORD),
                    ("pSignatureSettings", ctypes.c_void_p)]

    action = uuid.UUID("00AAC56B-CD44-11d0-8CC2-00C04FC295EE")  # WINTRUST_ACTION_GENERIC_VERIFY_V2
    guid = GUID(action.fields[0], action.fields[1], action.fields[2], (ctypes.c_ubyte * 8)(*action.bytes[8:]))
    file_info = WINTRUST_FILE_INFO(ctypes.sizeof(WINTRUST_FILE_INFO), path, None, None)
    data = WINTRUST_DATA()
    data.cbStruct = ctypes.sizeof(WINTRUST_DATA)
    data.dwUIChoice = 2  # WTD_UI_NONE
    data.fdwRevocationChecks = 0  # WTD_REVOKE_NONE
    data.dwUnionChoice = 1  # WTD_CHOICE_FILE
    data.pFile = ctypes.pointer(file_info)
    data.dwStateAction = 1  # WTD_STATEACTION_VERIFY
    data.dwProvFlags = 0x1000  # WTD_CACHE_ONLY_URL_RETRIEVAL: never go online
    wintrust = ctypes.WinDLL("wintrust")
    result = wintrust.WinVerifyTrust(None, ctypes.byref(guid), ctypes.byref(data))
    data.dwStateAction = 2  # WTD_STATEACTION_CLOSE
    wintrust.WinVerifyTrust(None, ctypes.byref(guid), ctypes.byref(data))
    return result == 0
