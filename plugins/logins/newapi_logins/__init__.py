"""Sign-in methods for the New API host (OIDC, GitHub, Discord, LinuxDO), one plugin per method."""
