"""placeholder"""

ROUTES: list = []
