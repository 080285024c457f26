module gortbench

go 1.27
