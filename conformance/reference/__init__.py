"""Reference systems under test shipped with the harness, so a campaign runs on a fresh machine and
every check can be shown to catch a defect (the detection matrix). They are separate processes,
configured the way a vendor configures theirs, and the harness treats them as external SUTs.
"""
