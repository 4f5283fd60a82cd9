"""`clearstack images`: images clearstack builds itself on the controller, without any registry."""
