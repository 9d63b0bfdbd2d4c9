"""OpenAI plugin: the OpenAI wire formats and the channel types that speak them."""
