"""Conversations: participants whose speech shares one clock, one insights engine and one
result stream; plus the directory that finds them and the admission that bounds them."""
