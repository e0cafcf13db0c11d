"""The consumer role: a Proxy e-Santé (Fournisseur de Service), its bench and its conditions by theme."""
