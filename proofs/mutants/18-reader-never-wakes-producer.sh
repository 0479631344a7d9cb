# desc: the half-buffer wake threshold off by a buffer: a reader advancing never wakes the parked producer
replace DefaultStream.java '        && position + capacity - pendingSeq + 1 >= Math.max(1, capacity >> 1)' '        && position + capacity - pendingSeq + 1 > capacity'
