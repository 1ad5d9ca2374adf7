"""The YANG modules, shipped as package data of ``esc_netconf.yang`` (see ``setup.py``).

``esc.yang`` is the ESC model; ``ietf/`` holds the standard modules the NETCONF server implements or
imports (RFC 6241, 6022, 6470, 5277, 8525 and their imports). This file only makes the directory an
importable package, so that ``importlib.resources`` finds the modules in a wheel and in an editable
install alike; it holds no code.
"""
