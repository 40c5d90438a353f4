"""Targets: where drills run. ``base`` holds the protocols; ``sim`` the embedded simulated cluster;
``kube`` a real cluster through the official client."""
