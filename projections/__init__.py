"""Pure derivations: histories, outcomes, clocks, cycles and payments.

Nothing here touches storage, the network, the disk or the clock: the same inputs give the same
outputs, always, which is what makes a payment run replay exactly.
"""
