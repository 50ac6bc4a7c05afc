"""Offline corpus builders that write the official dataset layouts from Debian-installable sources."""
