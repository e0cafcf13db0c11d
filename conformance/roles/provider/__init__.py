"""The provider role: a data provider (Fournisseur de Données), its bench and its conditions by theme."""
