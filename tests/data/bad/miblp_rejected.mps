* ENCODING=ISO-8859-1
NAME          moore90
ROWS
 N  R0005   
 L  R0001   
 L  R0002   
 L  R0003   
 L  R0004   
COLUMNS
    MARK0000  'MARKER'                 'INTORG'
    C0001     R0005                          -1
    C0001     R0001                         abc
    C0001     R0002                           1
    C0001     R0003                           2
    C0001     R0004                          -2
    C0002     R0005                         -10
    C0002     R0001                          20
    C0002     R0002                           2
    C0002     R0003                          -1
    C0002     R0004                         -10
    MARK0001  'MARKER'                 'INTEND'
RHS
    rhs       R0001                          30
    rhs       R0002                          10
    rhs       R0003                          15
    rhs       R0004                         -15
BOUNDS
 UP bnd       C0001                          10
 UP bnd       C0002                           5
ENDATA
