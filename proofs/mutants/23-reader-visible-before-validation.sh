# desc: D1, a reader visible to the producer before its lastSequence is validated. Present in 61d603f itself
# (the lead's fixed core validates first): on 61d603f this mutant only checks that it still fits; re-target
# it to the fixed attach (move the publication of the reader before the validation).
replace DefaultStream.java '    addReader(r); // first: from here on the producer'"'"'s gate checks include r' '    addReader(r); // first: from here on the producer'"'"'s gate checks include r'
