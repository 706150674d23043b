"""Networks: the identity encoder E_id, structure encoder, generator, discriminator, memory."""
