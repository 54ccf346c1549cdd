"""The technician's visit: install the kit, give it an identity, pair its monitors,
in their language."""
