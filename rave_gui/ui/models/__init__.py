"""Qt item models (QAbstractTableModel adapters over backend records) for the views."""
