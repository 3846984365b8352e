"""callback-review (回访): the hotline calls residents back and closes or reopens."""
