"""One module per API family: recognise host+path, parse into LLMRequest, build error bodies."""
