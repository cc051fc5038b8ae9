"""Bridges to the reference implementations worldloom's worlds reproduce (mpe2), for parity checks."""
