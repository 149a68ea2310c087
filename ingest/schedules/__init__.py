"""Schedule import: pretalx/frab JSON, frab XML and iCalendar into Schedule records."""
