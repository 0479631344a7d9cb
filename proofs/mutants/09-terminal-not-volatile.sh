# desc: `terminal` is a plain field (readers may see the sealed tail but never the terminal event)
replace DefaultStream.java '  private volatile StreamEvent.@Nullable Terminal terminal;' '  private StreamEvent.@Nullable Terminal terminal;'
